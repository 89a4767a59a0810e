"""Notifications: lead.assigned events on crm.leads -> a notifier process -> e-mail at a local SMTP server."""

from __future__ import annotations

import asyncio
import re
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import TYPE_CHECKING, Any

import aiosmtplib
from aiokafka import AIOKafkaProducer
from aiosmtpd.controller import Controller

from crmhub.events import new_event, to_record
from crmhub.schemas.leads import LeadAssigned, LeadContact, LeadSummary
from crmhub.schemas.team import Manager, ManagerUpserted
from crmhub.team_directory import manager_key
from localservers import free_port, start_service
from scenarios.common import wait_ready

if TYPE_CHECKING:
    from scenarios import BenchContext

description = (
    "lead.assigned events produced to crm.leads for one manager whose channel is e-mail; a notifier process renders and sends them to a local "
    "SMTP server (aiosmtpd). Latency: from the event's time to the message's arrival. Ceiling: bare aiosmtplib sends to the same server"
)


MARKER = re.compile(r"LEAD (\S+)")


class Sink:
    def __init__(self) -> None:
        self.arrivals: dict[str, float] = {}
        sink = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                message = message_from_bytes(envelope.content, policy=policy.default)
                found = MARKER.search(str(message.get_content()))
                if found:
                    sink.arrivals.setdefault(found.group(1), time.time())
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)


async def _smtp_ceiling(port: int, count: int) -> float:
    async def one(i: int) -> None:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = "bench@example.com", "sink@example.com", f"ceiling {i}"
        mail.set_content("x")
        await aiosmtplib.send(mail, hostname="127.0.0.1", port=port)

    started = time.perf_counter()
    queue = iter(range(count))

    async def worker() -> None:
        for i in queue:
            await one(i)

    await asyncio.gather(*(worker() for _ in range(8)))
    return count / (time.perf_counter() - started)


async def run(ctx: BenchContext) -> list[dict[str, Any]]:
    count = ctx.size(1_000, 100)
    sink = Sink()
    sink.controller.start()
    u = uuid.uuid4().hex[:8]
    producer = AIOKafkaProducer(bootstrap_servers=ctx.kafka, enable_idempotence=True)
    await producer.start()
    server = None
    try:
        smtp_ceiling = await _smtp_ceiling(sink.port, ctx.size(500, 50))
        manager = Manager(id=f"bench-{u}", name="Bench", department_id=f"d-{u}", email=f"bench.{u}@example.com")
        team = to_record(
            new_event(
                ManagerUpserted(change="created", version=1, manager=manager),
                source="/bench",
                subject=manager_key(manager.id),
            )
        )
        await producer.send_and_wait(
            "crm.team", team.value, key=team.key, headers=[(k, v.encode()) for k, v in team.headers.items()]
        )
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": ctx.kafka,
            "MONGODB_URL": ctx.mongo,
            "NOTIFIER_MONGODB_DATABASE": f"bench_notifier_{u}",
            "NOTIFIER_SMTP_HOST": "127.0.0.1",
            "NOTIFIER_SMTP_PORT": str(sink.port),
            "NOTIFIER_DEFAULT_CHANNELS": "email",
            "NOTIFIER_BURST_LIMIT": "1000000",
            "NOTIFIER_LOG_LEVEL": "WARNING",
        }
        server = start_service(
            "notifier", env=env, port=free_port(), log_path=ctx.workdir / "bench-notifier.log", python=sys.executable
        )
        await wait_ready(server.address)
        sent: dict[str, float] = {}
        started = time.time()
        for i in range(count):
            now = datetime.now(UTC)
            lead = LeadSummary(
                lead_id=f"b{i}-{u}",
                source_id="bench",
                contact=LeadContact(name="Bench", phone="+79160000001"),
                message=f"LEAD b{i}-{u}",
            )
            data = LeadAssigned(
                lead=lead,
                manager_id=manager.id,
                department_id="d",
                reason="new_lead",
                assigned_at=now,
                sla_deadline=now + timedelta(minutes=15),
            )
            record = to_record(new_event(data, source="/bench", subject=lead.lead_id, time=now))
            sent[lead.lead_id] = now.timestamp()
            await producer.send(
                record.topic, record.value, key=record.key, headers=[(k, v.encode()) for k, v in record.headers.items()]
            )
        await producer.flush()
        while len(sink.arrivals.keys() & sent.keys()) < count:
            if time.time() - started > 300:
                raise RuntimeError(f"only {len(sink.arrivals.keys() & sent.keys())} of {count} notifications arrived")
            await asyncio.sleep(0.1)
        elapsed = max(sink.arrivals[k] for k in sent) - started
        latencies = sorted((sink.arrivals[k] - sent[k]) * 1000 for k in sent)
        overtaken = _overtaking([sink.arrivals[k] for k in sent])  # `sent` is in the order produced
    finally:
        await producer.stop()
        if server is not None:
            server.stop()
        sink.controller.stop()
    ctx.ceilings.setdefault("smtp_send", smtp_ceiling)
    return [
        {"name": "smtp_send (bare aiosmtplib, 8 concurrent)", "value": smtp_ceiling, "unit": "messages/s"},
        {
            "name": "notifications delivered by e-mail",
            "value": count / elapsed,
            "unit": "messages/s",
            "ceiling": "smtp_send",
            "ratio": count / elapsed / smtp_ceiling,
        },
        {
            "name": "e-mails that arrived before one produced earlier for the same manager (in order: 0)",
            "value": float(overtaken),
            "unit": "messages",
        },
        {
            "name": "event time -> e-mail arrival p50 (all sent at once)",
            "value": statistics.median(latencies),
            "unit": "ms",
        },
        {
            "name": "event time -> e-mail arrival p99 (all sent at once)",
            "value": latencies[int(len(latencies) * 0.99) - 1],
            "unit": "ms",
        },
    ]


def _overtaking(arrivals: list[float]) -> int:
    """How many messages arrived before a message whose event came earlier."""
    latest, count = float("-inf"), 0
    for at in arrivals:
        if at < latest:
            count += 1
        latest = max(latest, at)
    return count
