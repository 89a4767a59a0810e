"""The proving ground: start the hub the way `make run` does, drive a bounded load of leads, kill
things with SIGKILL in turn (Kafka, the database, each service), and check from the database and
the topics that every acknowledged lead is stored, announced once per event, and notified once
per recipient and channel, with no manual restart; print a table and (with --write) put it in
docs/RELIABILITY.md.

    make chaos                       # the full run (every kill, 20 leads/s)
    python bench/chaos.py --short    # what make test runs: a service and the database
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "deploy" / "local")]
from localservers import PYTHONPATH, free_port  # noqa: E402

FULL = ["kafka", "mongodb", "leads", "telephony", "notifier", "motivation", "deals", "kafka"]
SHORT = ["leads", "mongodb"]
PATTERNS = {
    "kafka": "kafka.Kafka",
    "mongodb": "WireServer",
    **{s: f"-m {s}" for s in ("leads", "telephony", "deals", "motivation", "notifier")},
}


@dataclass
class Phase:
    killed: str
    acknowledged: list[str] = field(default_factory=list)
    refused: int = 0  # 4xx/5xx answers (the client may send again)
    unanswered: int = 0
    recovery_seconds: float = 0.0


def _children(parent: int, needle: str) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(parent), "-f", "--", needle], capture_output=True, text=True).stdout
    return [int(pid) for pid in found.split()]


async def _load(leads: str, phase: Phase, stop: asyncio.Event, rate: float) -> None:
    async with httpx.AsyncClient(timeout=15) as http:
        while not stop.is_set():
            phone = f"+7916{uuid.uuid4().int % 10**7:07d}"
            try:
                answer = await http.post(
                    f"{leads}/v1/leads", json={"name": "Chaos", "phone": phone}, headers={"X-Api-Key": "demo-key"}
                )
                if answer.status_code == 202:
                    phase.acknowledged.append(answer.json()["lead_id"])
                else:
                    phase.refused += 1
            except httpx.HTTPError:
                phase.unanswered += 1
            await asyncio.sleep(1 / rate)


SERVICE_OFFSETS = {"leads": 1, "telephony": 2, "deals": 3, "motivation": 4, "notifier": 5}


async def _recovered(base: int, killed: str, started: float) -> float:
    """Seconds until the hub is whole again: what was killed (for Kafka and the database: every
    service) answers /ready, and a lead is taken."""
    names = [killed] if killed in SERVICE_OFFSETS else list(SERVICE_OFFSETS)
    leads = f"http://127.0.0.1:{base + 1}"
    async with httpx.AsyncClient(timeout=5) as http:
        while True:
            try:
                ready = [
                    (await http.get(f"http://127.0.0.1:{base + SERVICE_OFFSETS[n]}/ready")).status_code == 200
                    for n in names
                ]
                phone = f"+7916{uuid.uuid4().int % 10**7:07d}"
                taken = await http.post(f"{leads}/v1/leads", json={"phone": phone}, headers={"X-Api-Key": "demo-key"})
                if all(ready) and taken.status_code == 202:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.25)


async def _events(kafka: str) -> dict[str, dict[str, set[str]]]:
    """lead id -> event type -> the distinct event ids on crm.leads."""
    consumer = AIOKafkaConsumer(
        "crm.leads", bootstrap_servers=kafka, auto_offset_reset="earliest", enable_auto_commit=False
    )
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


async def run(targets: list[str], *, rate: float, settle: float, workdir: Path) -> tuple[list[Phase], dict[str, Any]]:
    base = random.randrange(20000, 32000, 10)  # below the ephemeral range: no client socket takes one meanwhile
    kafka_port, mongo_port = free_port(), free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*(str(p) for p in PYTHONPATH), str(ROOT / "deploy" / "local")]),
        "CRMHUB_DATA_DIR": str(workdir),
        "CRMHUB_PORT_BASE": str(base),
        "CRMHUB_KAFKA_PORT": str(kafka_port),
        "CRMHUB_MONGO_PORT": str(mongo_port),
        "CRMHUB_MAIL_PORT": str(free_port()),
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
    log = (workdir / "hub.log").open("w")
    hub = subprocess.Popen(  # noqa: ASYNC220 - started once, before any load
        [sys.executable, str(ROOT / "deploy" / "local" / "run_hub.py")], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    leads, notifier, motivation = (f"http://127.0.0.1:{base + n}" for n in (1, 5, 4))
    phases: list[Phase] = []
    try:
        deadline = time.monotonic() + 240
        while "The CRM hub is running" not in (workdir / "hub.log").read_text():
            if hub.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((workdir / "hub.log").read_text()[-3000:])
            await asyncio.sleep(0.5)
        for target in ["(none)", *targets]:
            phase = Phase(target)
            phases.append(phase)
            stop = asyncio.Event()
            load = asyncio.create_task(_load(leads, phase, stop, rate))
            await asyncio.sleep(5)
            if target != "(none)":
                victims = _children(hub.pid, PATTERNS[target])
                if not victims:
                    raise RuntimeError(f"no {target} process to kill")
                started = time.monotonic()
                for pid in victims:
                    os.kill(pid, signal.SIGKILL)
                phase.recovery_seconds = await asyncio.wait_for(_recovered(base, target, started), 300)
                await asyncio.sleep(5)
            stop.set()
            await load
        await asyncio.sleep(settle)
        async with httpx.AsyncClient(timeout=30) as http:
            login = {"login": "admin", "password": "demo-admin-password"}
            token = (await http.post(f"{motivation}/v1/auth/login", json=login)).json()["access_token"]
            admin = {"Authorization": f"Bearer {token}"}
            events = await _events(f"127.0.0.1:{kafka_port}")
            deliveries: list[dict[str, Any]] = []
            while True:
                params: dict[str, str | int] = {"event_type": "lead.assigned", "limit": 500, "offset": len(deliveries)}
                page = (await http.get(f"{notifier}/v1/notifications", params=params, headers=admin)).json()["items"]
                deliveries += page
                if len(page) < 500:
                    break
            services = (("leads", 1), ("telephony", 2), ("deals", 3), ("motivation", 4), ("notifier", 5))
            ready = {name: (await http.get(f"http://127.0.0.1:{base + n}/ready")).status_code for name, n in services}
        checks: dict[str, Any] = {"ready": ready, "lost": {}, "twice": {}, "not_notified": {}}
        by_cause: dict[tuple[str, str, str], int] = defaultdict(int)
        for delivery in deliveries:
            by_cause[(delivery["cause_event_id"], delivery["recipient"], delivery["channel"])] += 1
        notified_causes = {d["cause_event_id"] for d in deliveries}
        async with httpx.AsyncClient(timeout=15, headers=admin) as http:
            for phase in phases:
                lost = twice = unnotified = 0
                for lead_id in phase.acknowledged:
                    stored = (await http.get(f"{leads}/v1/leads/{lead_id}")).status_code == 200
                    created = events.get(lead_id, {}).get("lead.created", set())
                    assigned = events.get(lead_id, {}).get("lead.assigned", set())
                    lost += (not stored) or not created
                    twice += len(created) > 1
                    unnotified += bool(assigned) and not (assigned & notified_causes)
                checks["lost"][phase.killed] = lost
                checks["twice"][phase.killed] = twice
                checks["not_notified"][phase.killed] = unnotified
        checks["duplicate_deliveries"] = sum(1 for n in by_cause.values() if n > 1)
        return phases, checks
    finally:
        hub.send_signal(signal.SIGINT)
        try:
            hub.wait(timeout=90)
        except subprocess.TimeoutExpired:
            hub.kill()
        log.close()


def table(phases: list[Phase], checks: dict[str, Any], rate: float) -> str:
    lines = [
        "| killed (SIGKILL) | load | acknowledged | refused / unanswered (sent again) | lost | announced twice | not notified | recovery (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in phases:
        lines.append(
            f"| {p.killed} | {rate:g} leads/s | {len(p.acknowledged)} | {p.refused} / {p.unanswered} | "
            f"{checks['lost'][p.killed]} | {checks['twice'][p.killed]} | {checks['not_notified'][p.killed]} | "
            f"{p.recovery_seconds:.1f} |"
        )
    lines.append("")
    lines.append(
        f"Duplicate deliveries (same event, recipient and channel): {checks['duplicate_deliveries']}. "
        f"Every service ready at the end without a manual restart: {all(v == 200 for v in checks['ready'].values())} ({checks['ready']})."
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--short", action="store_true")
    parser.add_argument("--rate", type=float, default=20.0)
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
        or any(v != 200 for v in checks["ready"].values())
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
