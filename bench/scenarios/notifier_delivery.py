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
from scenarios.ceilings import PASSES
from scenarios.common import percentile, wait_ready

if TYPE_CHECKING:
    from scenarios import BenchContext

description = (
    "a burst of lead.assigned events produced to crm.leads at once, in turn to each of a team of 10 managers, then "
    "another to one manager (channel: e-mail, burst limit off); a notifier process renders and sends them to a "
    "local SMTP server (aiosmtpd). Order: per manager, e-mails that arrived before one whose event was produced "
    "earlier. Latency: from the event's time to the message's arrival. Ceiling: bare aiosmtplib sends to the same "
    "server on 8 sessions kept open, the best of 3 passes"
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
    """8 bare aiosmtplib sessions, each kept open for its share of `count` messages (as the
    notifier keeps its sessions), so the figure is what the SMTP server takes, not connects."""
    queue = iter(range(count))

    async def worker() -> None:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=port) as client:
            for i in queue:
                mail = EmailMessage()
                mail["From"], mail["To"], mail["Subject"] = "bench@example.com", "sink@example.com", f"ceiling {i}"
                mail.set_content("x")
                await client.send_message(mail)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(8)))
    return count / (time.perf_counter() - started)


TEAM = 10


async def run(ctx: BenchContext) -> list[dict[str, Any]]:
    count = ctx.size(1_000, 100)
    sink = Sink()
    sink.controller.start()
    u = uuid.uuid4().hex[:8]
    producer = AIOKafkaProducer(bootstrap_servers=ctx.kafka, enable_idempotence=True)
    await producer.start()
    server = None
    figures: list[dict[str, Any]] = []
    try:
        smtp_ceiling = max([await _smtp_ceiling(sink.port, ctx.size(500, 50)) for _ in range(PASSES)])
        figures.append(
            {
                "name": "smtp_send (bare aiosmtplib, 8 sessions kept open, best of 3)",
                "value": smtp_ceiling,
                "unit": "messages/s",
            }
        )
        team = [
            Manager(id=f"bench-{u}-{i}", name="Bench", department_id=f"d-{u}", email=f"bench.{u}.{i}@example.com")
            for i in range(TEAM)
        ]
        for manager in team:
            record = to_record(
                new_event(
                    ManagerUpserted(change="created", version=1, manager=manager),
                    source="/bench",
                    subject=manager_key(manager.id),
                )
            )
            await producer.send_and_wait(
                "crm.team", record.value, key=record.key, headers=[(k, v.encode()) for k, v in record.headers.items()]
            )
        env = {
            "KAFKA_BOOTSTRAP_SERVERS": ctx.kafka,
            "MONGODB_URL": ctx.mongo,
            "NOTIFIER_MONGODB_DATABASE": f"bench_notifier_{u}",
            "NOTIFIER_SMTP_HOST": "127.0.0.1",
            "NOTIFIER_SMTP_PORT": str(sink.port),
            "NOTIFIER_DEFAULT_CHANNELS": "email",
            "NOTIFIER_BURST_LIMIT": "0",
            "NOTIFIER_LOG_LEVEL": "WARNING",
        }
        server = start_service(
            "notifier", env=env, port=free_port(), log_path=ctx.workdir / "bench-notifier.log", python=sys.executable
        )
        await wait_ready(server.address)
        for who, recipients in ((f"a team of {TEAM} managers", team), ("one manager", team[:1])):
            figures += await _burst(producer, sink, recipients, count, f"{u}-{len(recipients)}", who, smtp_ceiling)
    finally:
        await producer.stop()
        if server is not None:
            server.stop()
        sink.controller.stop()
    ctx.ceilings.setdefault("smtp_send", smtp_ceiling)
    return figures


async def _burst(
    producer: AIOKafkaProducer,
    sink: Sink,
    recipients: list[Manager],
    count: int,
    tag: str,
    who: str,
    smtp_ceiling: float,
) -> list[dict[str, Any]]:
    """`count` lead.assigned events produced at once, in turn to each of `recipients`."""
    sent: dict[str, float] = {}
    order: dict[str, list[str]] = {m.id: [] for m in recipients}
    started = time.time()
    for i in range(count):
        now = datetime.now(UTC)
        manager = recipients[i % len(recipients)]
        lead = LeadSummary(
            lead_id=f"b{i}-{tag}",
            source_id="bench",
            contact=LeadContact(name="Bench", phone="+79160000001"),
            message=f"LEAD b{i}-{tag}",
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
        order[manager.id].append(lead.lead_id)
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
    # per recipient: each list is in the order its events were produced
    overtaken = sum(_overtaking([sink.arrivals[k] for k in leads]) for leads in order.values())
    return [
        {
            "name": f"notifications delivered by e-mail, burst to {who}",
            "value": count / elapsed,
            "unit": "messages/s",
            "ceiling": "smtp_send",
            "ratio": count / elapsed / smtp_ceiling,
        },
        {
            "name": f"e-mails that arrived before one produced earlier for the same manager, burst to {who} (in order: 0)",
            "value": float(overtaken),
            "unit": "messages",
        },
        {
            "name": f"event time -> e-mail arrival p50, burst to {who}",
            "value": statistics.median(latencies),
            "unit": "ms",
        },
        {"name": f"event time -> e-mail arrival p99, burst to {who}", "value": percentile(latencies, 99), "unit": "ms"},
    ]


def _overtaking(arrivals: list[float]) -> int:
    """How many messages arrived before a message whose event came earlier."""
    latest, count = float("-inf"), 0
    for at in arrivals:
        if at < latest:
            count += 1
        latest = max(latest, at)
    return count
