"""The proving ground: start the hub the way `make run` does (with two instances of leads), drive
a bounded load of leads and calls, kill things with SIGKILL in turn (Kafka, the database, each
service, one of the two leads instances while the other serves, the notifier in the middle of
sending an e-mail), and check from the services, the topics and the mailbox that every
acknowledged lead and call is stored and announced once per event, and every assignment
notified once per recipient and channel, with no manual restart; print a table and (with
--write) put it in docs/RELIABILITY.md.

    make chaos                       # the full run (every kill, 8 leads/s and 4 calls/s)
    python bench/chaos.py --short    # what make test runs: a leads instance, the notifier, the database
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer
from aiosmtpd.controller import Controller

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "deploy" / "local")]
from localservers import PYTHONPATH, free_port  # noqa: E402

# "leads#1": the first of the two leads instances only, while the second serves; "notifier": at
# the moment it is sending an e-mail (the mailbox holds its reply meanwhile).
FULL = ["kafka", "mongodb", "leads", "leads#1", "telephony", "notifier", "motivation", "deals", "kafka"]
SHORT = ["leads#1", "notifier", "mongodb"]
PATTERNS = {
    "kafka": "kafka.Kafka",
    "mongodb": "WireServer",
    "leads#1": "-m leads",
    **{s: f"-m {s}" for s in ("leads", "telephony", "deals", "motivation", "notifier")},
}
SERVICE_OFFSETS = {"leads": 1, "telephony": 2, "deals": 3, "motivation": 4, "notifier": 5}
REPLICA_STEP = 10  # run_hub's port step between instances of a service


@dataclass
class Phase:
    killed: str
    acknowledged: list[str] = field(default_factory=list)
    calls: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds, of the leads answered 202
    refused: int = 0  # 4xx/5xx answers (the client may send again)
    unanswered: int = 0
    recovery_seconds: float = 0.0


class Mailbox:
    """A real SMTP server (aiosmtpd) standing in for the mail relay. Asked to, it holds its reply
    to the next message for a while, so the notifier can be killed in the middle of sending."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes]] = []  # (the phase it arrived in, the message)
        self.phase = "(start)"
        self.hold_next = threading.Event()
        self.holding = threading.Event()
        mailbox = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                if mailbox.hold_next.is_set():
                    mailbox.hold_next.clear()
                    mailbox.holding.set()
                    # the sender is killed meanwhile, which ends this connection and cancels this
                    # handler: the message is not accepted. (A fixed 3 s hold let a kill that came
                    # later on a loaded machine find the message accepted, and its resend counted
                    # as a copy; 60 s is only the bound should the kill never come.)
                    await asyncio.sleep(60)
                mailbox.messages.append((mailbox.phase, envelope.content))
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)

    def copies(self) -> dict[str, int]:
        """Per phase: messages received again (a Message-ID received before)."""
        seen: set[bytes] = set()
        copies: dict[str, int] = defaultdict(int)
        for phase, message in self.messages:
            found = [line for line in message.split(b"\r\n") if line.lower().startswith(b"message-id:")]
            message_id = found[0].split(b":", 1)[1].strip() if found else message
            copies[phase] += message_id in seen
            seen.add(message_id)
        return dict(copies)


def _children(parent: int, needle: str, port: int | None = None) -> list[int]:
    """The launcher's children whose command line has `needle` (and, with `port`, that listen there)."""
    found = subprocess.run(["pgrep", "-P", str(parent), "-f", "--", needle], capture_output=True, text=True).stdout
    pids = [int(pid) for pid in found.split()]
    if port is None:
        return pids
    return [pid for pid in pids if f"_HTTP_PORT={port}\0".encode() in Path(f"/proc/{pid}/environ").read_bytes()]


IN_FLIGHT = 64  # requests the load generator keeps open at most (beyond that it falls behind)


async def _paced(rate: float, stop: asyncio.Event, one: Callable[[], Awaitable[None]]) -> None:
    """Start `one` `rate` times a second on a fixed schedule (an open loop: the schedule does not
    wait for answers), with at most IN_FLIGHT open at once; then wait for those still open."""
    slots = asyncio.Semaphore(IN_FLIGHT)
    running: set[asyncio.Task[None]] = set()

    async def slot() -> None:
        try:
            await one()
        finally:
            slots.release()

    next_at = time.perf_counter()
    while not stop.is_set():
        await slots.acquire()
        task = asyncio.create_task(slot())
        running.add(task)
        task.add_done_callback(running.discard)
        next_at = max(next_at + 1 / rate, time.perf_counter() - 1)  # no catching up after a long stall
        await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
    await asyncio.gather(*running)


async def _load(instances: list[str], phase: Phase, stop: asyncio.Event, rate: float) -> None:
    """Leads at `rate`, to the instances in turn; a request without an answer is sent again to the
    next instance (the same submission: retries must give the same lead)."""
    turn = itertools.count()
    async with httpx.AsyncClient(timeout=15, limits=httpx.Limits(max_connections=IN_FLIGHT * 2)) as http:

        async def one() -> None:
            body = {"name": "Chaos", "phone": f"+7916{uuid.uuid4().int % 10**7:07d}"}
            first = next(turn)
            for attempt in range(len(instances)):  # the first instance in turn, then the next one
                sent = time.perf_counter()
                try:
                    answer = await http.post(
                        f"{instances[(first + attempt) % len(instances)]}/v1/leads",
                        json=body,
                        headers={"X-Api-Key": "demo-key"},
                    )
                except httpx.HTTPError:
                    if attempt == len(instances) - 1:
                        phase.unanswered += 1
                    continue
                if answer.status_code == 202:
                    phase.acknowledged.append(answer.json()["lead_id"])
                    phase.latencies.append(time.perf_counter() - sent)
                else:
                    phase.refused += 1
                return

        await _paced(rate, stop, one)


async def _call_load(telephony: str, phase: Phase, stop: asyncio.Event, rate: float) -> None:
    """Answered inbound calls from new numbers on the demo PBX, each reported once it ended."""
    async with httpx.AsyncClient(timeout=15, limits=httpx.Limits(max_connections=IN_FLIGHT * 2)) as http:

        async def one() -> None:
            body = {
                "call_id": f"chaos-{uuid.uuid4().hex}",
                "event": "ended",
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "direction": "inbound",
                "caller": f"+7903{uuid.uuid4().int % 10**7:07d}",
                "callee": "+74951110000",
                "line": "+74951110000",
                "extension": "101",
                "outcome": "answered",
                "talk_seconds": 42,
            }
            try:
                answer = await http.post(
                    f"{telephony}/v1/telephony/demo-pbx/events", json=body, headers={"X-Api-Key": "demo-key"}
                )
            except httpx.HTTPError:
                phase.unanswered += 1
                return
            if answer.status_code == 200:
                phase.calls += answer.json()["calls"]
            else:
                phase.refused += 1

        await _paced(rate, stop, one)


async def _recovered(base: int, killed: str, started: float) -> float:
    """Seconds until the hub is whole again: what was killed (for Kafka and the database: every
    service) answers /ready, and a lead is taken."""
    ports = {
        "leads#1": [base + 1],
        "leads": [base + 1, base + 1 + REPLICA_STEP],
        **{name: [base + offset] for name, offset in SERVICE_OFFSETS.items() if name != "leads"},
    }
    urls = [f"http://127.0.0.1:{port}" for port in ports.get(killed, [p for ps in ports.values() for p in ps])]
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            try:
                ready = [(await http.get(f"{url}/ready")).status_code == 200 for url in urls]
                phone = f"+7916{uuid.uuid4().int % 10**7:07d}"
                taken = await http.post(
                    f"http://127.0.0.1:{base + 1}/v1/leads", json={"phone": phone}, headers={"X-Api-Key": "demo-key"}
                )
                if all(ready) and taken.status_code == 202:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.25)


async def _without_capacity_limits(motivation: str) -> None:
    """Every sales manager of the demo team takes any number of open leads, so every lead of the
    run is assigned and notified (the demo's capacities would stop assignment after ~125)."""
    async with httpx.AsyncClient(timeout=10) as http:
        login = {"login": "admin", "password": "demo-admin-password"}
        token = (await http.post(f"{motivation}/v1/auth/login", json=login)).json()["access_token"]
        admin = {"Authorization": f"Bearer {token}"}
        managers = (await http.get(f"{motivation}/v1/team/managers", headers=admin)).json()["items"]
        for manager in managers:
            if manager.get("capacity"):
                changed = await http.patch(
                    f"{motivation}/v1/team/managers/{manager['id']}", json={"capacity": 10_000}, headers=admin
                )
                changed.raise_for_status()
    await asyncio.sleep(3)  # the leads instances' copies of the directory follow crm.team


async def _deliveries(http: httpx.AsyncClient, notifier: str, admin: dict[str, str]) -> list[dict[str, Any]]:
    """Every notification of a lead.assigned, once each (pages may overlap while new ones arrive)."""
    found: dict[str, dict[str, Any]] = {}
    offset = 0
    while True:
        params: dict[str, str | int] = {"event_type": "lead.assigned", "limit": 500, "offset": offset}
        page = (await http.get(f"{notifier}/v1/notifications", params=params, headers=admin)).json()["items"]
        found |= {d["id"]: d for d in page}
        offset += len(page)
        if len(page) < 500:
            return list(found.values())


async def _events(kafka: str, topic: str) -> dict[str, dict[str, set[str]]]:
    """key (lead or call id) -> event type -> the distinct event ids on `topic`."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka, auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    found: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    try:
        while True:
            batch = await consumer.getmany(timeout_ms=3000)
            if not batch:
                break
            for records in batch.values():
                for record in records:
                    headers = {k: v.decode() for k, v in record.headers}
                    found[(record.key or b"").decode()][headers.get("ce_type", "?")].add(headers.get("ce_id", "?"))
    finally:
        await consumer.stop()
    return found


@dataclass
class Hub:
    """The hub as `make run` starts it, with a mailbox here, and where each part answers."""

    process: subprocess.Popen[bytes]
    base: int
    kafka: str
    mailbox: Mailbox
    workdir: Path

    @property
    def leads(self) -> list[str]:
        return [f"http://127.0.0.1:{self.base + 1}", f"http://127.0.0.1:{self.base + 1 + REPLICA_STEP}"]

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.base + SERVICE_OFFSETS[service]}"


async def start_hub(workdir: Path, *, replicas: str = "leads=2") -> Hub:
    base = random.randrange(20000, 32000, 10)  # below the ephemeral range: no client socket takes one meanwhile
    kafka_port, mongo_port = free_port(), free_port()
    mailbox = Mailbox()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*(str(p) for p in PYTHONPATH), str(ROOT / "deploy" / "local")]),
        "CRMHUB_DATA_DIR": str(workdir),
        "CRMHUB_PORT_BASE": str(base),
        "CRMHUB_KAFKA_PORT": str(kafka_port),
        "CRMHUB_MONGO_PORT": str(mongo_port),
        "CRMHUB_REPLICAS": replicas,
        # assignments go out by e-mail too, to the mailbox here
        "NOTIFIER_SMTP_HOST": "127.0.0.1",
        "NOTIFIER_SMTP_PORT": str(mailbox.port),
        "NOTIFIER_DEFAULT_CHANNELS": "inbox,email",
    }
    for name in (
        "KAFKA_BOOTSTRAP_SERVERS",
        "MONGODB_URL",
        "CRMHUB_AUTH_ISSUER",
        "CRMHUB_AUTH_JWKS_URL",
        "LEADS_SOURCES_FILE",
    ):
        env.pop(name, None)
    # the demo's sources, without the per-address rate limit (the load comes from one address)
    sources = json.loads((ROOT / "deploy" / "demo" / "lead-sources.json").read_text())
    for source in sources["sources"]:
        source |= {"rate_limit_per_minute": 1_000_000, "ip_rate_limit_per_minute": 1_000_000}
    (workdir / "sources.json").write_text(json.dumps(sources))
    env["LEADS_SOURCES_FILE"] = str(workdir / "sources.json")
    mailbox.controller.start()
    with (workdir / "hub.log").open("w") as log:
        process = subprocess.Popen(  # noqa: ASYNC220 - started once, before any load
            [sys.executable, str(ROOT / "deploy" / "local" / "run_hub.py")],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    hub = Hub(process, base, f"127.0.0.1:{kafka_port}", mailbox, workdir)
    try:
        deadline = time.monotonic() + 240
        while "The CRM hub is running" not in (workdir / "hub.log").read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((workdir / "hub.log").read_text()[-3000:])
            await asyncio.sleep(0.5)
        await _without_capacity_limits(hub.url("motivation"))
    except BaseException:
        stop_hub(hub)
        raise
    return hub


def stop_hub(hub: Hub) -> None:
    hub.process.send_signal(signal.SIGINT)
    try:
        hub.process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        hub.process.kill()
    hub.mailbox.controller.stop()


def load(hub: Hub, phase: Phase, stop: asyncio.Event, rate: float, *, instances: int = 2) -> list[asyncio.Task[None]]:
    """Leads at `rate` and answered calls at half that, until `stop`."""
    return [
        asyncio.create_task(_load(hub.leads[:instances], phase, stop, rate)),
        asyncio.create_task(_call_load(hub.url("telephony"), phase, stop, rate / 2)),
    ]


async def run(targets: list[str], *, rate: float, settle: float, workdir: Path) -> tuple[list[Phase], dict[str, Any]]:
    hub = await start_hub(workdir)
    phases: list[Phase] = []
    try:
        for target in ["(none)", *targets]:
            # each phase is reported under its own name (Kafka is killed twice)
            phase = Phase(target if all(p.killed != target for p in phases) else f"{target} (again)")
            phases.append(phase)
            hub.mailbox.phase = phase.killed
            stop = asyncio.Event()
            loads = load(hub, phase, stop, rate)
            await asyncio.sleep(5)
            if target != "(none)":
                victims = _children(hub.process.pid, PATTERNS[target], hub.base + 1 if target == "leads#1" else None)
                if not victims:
                    raise RuntimeError(f"no {target} process to kill")
                if target == "notifier":  # in the middle of sending: the mailbox has its message, not yet its answer
                    hub.mailbox.holding.clear()
                    hub.mailbox.hold_next.set()
                    while not hub.mailbox.holding.is_set():
                        await asyncio.sleep(0.01)
                started = time.monotonic()
                for pid in victims:
                    os.kill(pid, signal.SIGKILL)
                phase.recovery_seconds = await asyncio.wait_for(_recovered(hub.base, target, started), 300)
                await asyncio.sleep(5)
            stop.set()
            await asyncio.gather(*loads)
        hub.mailbox.phase = "(after the load)"
        await asyncio.sleep(settle)
        return phases, await verify(hub, phases, instances=2)
    finally:
        stop_hub(hub)


async def _signed_in(http: httpx.AsyncClient, hub: Hub) -> dict[str, str]:
    login = {"login": "admin", "password": "demo-admin-password"}
    token = (await http.post(f"{hub.url('motivation')}/v1/auth/login", json=login)).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


async def verify(hub: Hub, phases: list[Phase], *, instances: int) -> dict[str, Any]:
    """From the services, the topics and the mailbox: what of each phase's acknowledged leads and
    calls is lost, announced twice or not notified (after the notifier has caught up)."""
    leads, telephony, notifier = hub.leads, hub.url("telephony"), hub.url("notifier")
    async with httpx.AsyncClient(timeout=30) as http:
        admin = await _signed_in(http, hub)
        lead_events = await _events(hub.kafka, "crm.leads")
        call_events = await _events(hub.kafka, "crm.calls")
        started = time.monotonic()
        while True:  # until the notifier has caught up with the run's backlog (or 10 minutes)
            admin = await _signed_in(http, hub)  # a token lasts minutes; this may take longer
            deliveries = await _deliveries(http, notifier, admin)
            open_ = sum(d["status"] in ("pending", "sending") for d in deliveries)
            notified = {(d["cause_event_id"], d["channel"]) for d in deliveries}
            unsent = [
                cause
                for phase in phases
                for lead_id in phase.acknowledged
                for cause in lead_events.get(lead_id, {}).get("lead.assigned", set())
                if not all((cause, channel) in notified for channel in ("inbox", "email"))
            ]
            if (not open_ and not unsent) or time.monotonic() - started > 600:
                break
            await asyncio.sleep(5)
        catch_up = time.monotonic() - started
        services = {"leads": leads[0]} | ({"leads#2": leads[1]} if instances > 1 else {})
        services |= {name: hub.url(name) for name in SERVICE_OFFSETS if name != "leads"}
        ready = {name: (await http.get(f"{url}/ready")).status_code for name, url in services.items()}
    checks: dict[str, Any] = {"ready": ready, "lost": {}, "twice": {}, "not_notified": {}, "assigned": {}}
    by_cause: dict[tuple[str, str, str], int] = defaultdict(int)
    for delivery in deliveries:
        by_cause[(delivery["cause_event_id"], delivery["recipient"], delivery["channel"])] += 1
    checks["notifier_caught_up_seconds"] = round(catch_up, 1)
    checks["deliveries_open"] = open_
    async with httpx.AsyncClient(timeout=15, headers=admin) as http:
        for phase in phases:
            lost = twice = unnotified = assigned_leads = 0
            for lead_id in phase.acknowledged:
                stored = (await http.get(f"{leads[0]}/v1/leads/{lead_id}")).status_code == 200
                created = lead_events.get(lead_id, {}).get("lead.created", set())
                assigned = lead_events.get(lead_id, {}).get("lead.assigned", set())
                lost += (not stored) or not created
                twice += len(created) > 1
                assigned_leads += bool(assigned)
                unnotified += bool(assigned) and not all(
                    (cause, channel) in notified for cause in assigned for channel in ("inbox", "email")
                )
            for call_id in phase.calls:
                stored = (await http.get(f"{telephony}/v1/calls/{call_id}")).status_code == 200
                completed = call_events.get(call_id, {}).get("call.completed", set())
                lost += (not stored) or not completed
                twice += len(completed) > 1
            checks["lost"][phase.killed] = lost
            checks["twice"][phase.killed] = twice
            checks["not_notified"][phase.killed] = unnotified
            checks["assigned"][phase.killed] = assigned_leads
    checks["duplicate_deliveries"] = sum(1 for n in by_cause.values() if n > 1)
    checks["mail_copies"] = hub.mailbox.copies()
    checks["mails"] = len(hub.mailbox.messages)
    return checks


def table(phases: list[Phase], checks: dict[str, Any], rate: float) -> str:
    lines = [
        "| killed (SIGKILL) | load | leads / calls acknowledged | refused / unanswered (sent again) "
        "| lost | announced twice | leads assigned / of them not notified | recovery (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in phases:
        lines.append(
            f"| {KILLED.get(p.killed, p.killed)} | {rate:g} leads/s + {rate / 2:g} calls/s | {len(p.acknowledged)} / {len(p.calls)} | "
            f"{p.refused} / {p.unanswered} | {checks['lost'][p.killed]} | {checks['twice'][p.killed]} | "
            f"{checks['assigned'][p.killed]} / {checks['not_notified'][p.killed]} | {p.recovery_seconds:.1f} |"
        )
    lines.append("")
    lines.append(
        f"The notifier had sent everything {checks['notifier_caught_up_seconds']:g} s after the load "
        f"(deliveries still open: {checks['deliveries_open']}). "
        f"Duplicate deliveries (same event, recipient and channel): {checks['duplicate_deliveries']}. "
        f"E-mails received (non-urgent notifications go out in digests): {checks['mails']}, of them copies of one already received (same Message-ID): "
        f"{sum(checks['mail_copies'].values())} {checks['mail_copies']}. "
        f"Every service ready at the end without a manual restart: {all(v == 200 for v in checks['ready'].values())} ({checks['ready']})."
    )
    return "\n".join(lines)


KILLED = {
    "leads": "leads (both instances)",
    "leads#1": "leads (one of two; the other serves)",
    "notifier": "notifier (while sending an e-mail)",
}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--short", action="store_true")
    # about what the notifier (inbox and e-mail for every lead, calls' leads included) keeps up with here
    parser.add_argument("--rate", type=float, default=8.0, help="leads/s (answered calls at half that)")
    parser.add_argument("--write", action="store_true", help="put the table in docs/RELIABILITY.md")
    parser.add_argument("--workdir", default=None)
    args = parser.parse_args()
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="crmhub-chaos-"))
    workdir.mkdir(parents=True, exist_ok=True)
    targets = SHORT if args.short else FULL
    phases, checks = asyncio.run(run(targets, rate=args.rate, settle=15.0, workdir=workdir))
    report = table(phases, checks, args.rate)
    print(report)
    print(json.dumps(checks))
    if args.write:
        page = ROOT / "docs" / "RELIABILITY.md"
        text = page.read_text()
        start, end = "<!-- chaos:start -->", "<!-- chaos:end -->"
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        page.write_text(
            text.split(start)[0] + f"{start}\nRun of {stamp} (`make chaos`):\n\n{report}\n{end}" + text.split(end)[1]
        )
    bad = (
        any(checks["lost"].values())
        or any(checks["twice"].values())
        or checks["duplicate_deliveries"]
        or any(checks["mail_copies"].values())
        or checks["deliveries_open"]
        or any(checks["not_notified"].values())
        or any(v != 200 for v in checks["ready"].values())
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
