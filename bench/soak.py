"""The soak: the whole hub as `make run` starts it, under a steady load of leads and calls at
about half the capacity of its narrowest part (the notifier), for a long time (30 minutes by default); every
window it records each process's memory and the leads' answer times, and at the end it checks
as `make chaos` does that nothing acknowledged is lost, announced twice or left unnotified.
It prints a table and (with --write) puts it in docs/BENCHMARKS.md.

    make soak                                  # 30 minutes at 4 leads/s + 2 calls/s
    python bench/soak.py --minutes 5 --window 1
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaConsumer

import chaos
from page import SOAK_HEADING, put_section

TAKE_AFTER = 20.0  # seconds from assignment until the manager takes the lead into work


def rss_mib(parent: int) -> dict[str, float]:
    """Resident memory of each of the launcher's children, by what it is."""
    found: dict[str, float] = {}
    for name, needle in chaos.PATTERNS.items():
        if "#" in name:  # an instance of a service already counted under its name
            continue
        for pid in chaos._children(parent, needle):
            status = Path(f"/proc/{pid}/status").read_text()
            kib = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
            found[name] = found.get(name, 0.0) + kib / 1024
    return found


async def run(
    *, minutes: float, window: float, rate: float, workdir: Path
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    hub = await chaos.start_hub(workdir, replicas="")
    windows: list[dict[str, Any]] = []
    phases: list[chaos.Phase] = []
    desk_closed = asyncio.Event()
    taken: list[str] = []
    desk = asyncio.create_task(managers_take_their_leads(hub, desk_closed, taken))
    try:
        windows.append({"minute": 0, "rss": rss_mib(hub.process.pid)})
        for n in range(max(1, round(minutes / window))):
            phase = chaos.Phase(f"{n * window:g}-{(n + 1) * window:g} min")
            phases.append(phase)
            hub.mailbox.phase = phase.killed
            stop = asyncio.Event()
            loads = chaos.load(hub, phase, stop, rate, instances=1)
            await asyncio.sleep(window * 60)
            stop.set()
            await asyncio.gather(*loads)
            latencies = sorted(phase.latencies) or [float("nan")]
            windows.append(
                {
                    "minute": (n + 1) * window,
                    "rss": rss_mib(hub.process.pid),
                    "leads": len(phase.acknowledged),
                    "calls": len(phase.calls),
                    "p50_ms": statistics.median(latencies) * 1000,
                    "p99_ms": latencies[max(0, int(len(latencies) * 0.99) - 1)] * 1000,
                    "restarts": (workdir / "hub.log").read_text().count("restarting it"),
                    "taken": len(taken),
                }
            )
            print(json.dumps(windows[-1]), flush=True)
        hub.mailbox.phase = "(after the load)"
        await asyncio.sleep(15)
        return windows, await chaos.verify(hub, phases, instances=1)
    finally:
        desk_closed.set()
        await asyncio.gather(desk, return_exceptions=True)
        chaos.stop_hub(hub)


async def managers_take_their_leads(hub: chaos.Hub, closed: asyncio.Event, taken: list[str]) -> None:
    """What the sales team does: each assigned lead is taken into work by its manager a while
    later (TAKE_AFTER, well within the SLA). Without it every lead would be escalated again each
    SLA period for ever, and the load would grow past anything steady after a quarter of an hour."""
    consumer = AIOKafkaConsumer("crm.leads", bootstrap_servers=hub.kafka, auto_offset_reset="latest")
    await consumer.start()
    due: list[tuple[float, str, str]] = []  # (when, lead, manager)
    loop = asyncio.get_running_loop()
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            headers = await chaos._signed_in(http, hub)
            while not closed.is_set():
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    for record in records:
                        if dict(record.headers).get("ce_type") == b"lead.assigned":
                            data = json.loads(record.value)
                            heapq.heappush(due, (loop.time() + TAKE_AFTER, data["lead"]["lead_id"], data["manager_id"]))
                while due and due[0][0] <= loop.time():
                    _, lead_id, manager_id = heapq.heappop(due)
                    url = f"{hub.url('leads')}/v1/leads/{lead_id}/take"
                    try:
                        answer = await http.post(url, json={"manager_id": manager_id}, headers=headers)
                    except httpx.HTTPError:
                        heapq.heappush(due, (loop.time() + 5, lead_id, manager_id))  # try again shortly
                        continue
                    if answer.status_code == 401:  # the token ran out
                        headers = await chaos._signed_in(http, hub)
                        heapq.heappush(due, (loop.time(), lead_id, manager_id))
                    elif answer.status_code == 200:
                        taken.append(lead_id)
                    # anything else: reassigned meanwhile (its new manager takes it) or closed
    finally:
        await consumer.stop()


def table(windows: list[dict[str, Any]], checks: dict[str, Any], rate: float) -> str:
    names = list(windows[0]["rss"])
    lines = [
        f"Load: {rate:g} leads/s + {rate / 2:g} answered calls/s, every service one instance; each assigned "
        f"lead is taken into work by its manager {TAKE_AFTER:g} s later.",
        "",
        "| minute | leads / calls acknowledged | answer p50 / p99 (ms) | "
        + " | ".join(f"{n} RSS (MiB)" for n in names)
        + " | leads taken (so far) | restarts |",
        "|---" * (5 + len(names)) + "|",
    ]
    for w in windows:
        figures = (
            f"{w['leads']} / {w['calls']} | {w['p50_ms']:.0f} / {w['p99_ms']:.0f}" if "leads" in w else "(start) | "
        )
        rss = " | ".join(f"{w['rss'].get(n, 0):.0f}" for n in names)
        lines.append(f"| {w['minute']:g} | {figures} | {rss} | {w.get('taken', 0)} | {w.get('restarts', 0)} |")
    lost, twice, unnotified = (sum(checks[k].values()) for k in ("lost", "twice", "not_notified"))
    lines += [
        "",
        f"Lost: {lost}. Announced twice: {twice}. Assigned but not notified: {unnotified}. "
        f"Duplicate deliveries: {checks['duplicate_deliveries']}. "
        f"E-mail copies: {sum(checks['mail_copies'].values())}. "
        f"The notifier had sent everything {checks['notifier_caught_up_seconds']:g} s after the load.",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--window", type=float, default=5.0, help="minutes per row of the table")
    # Half of what the narrowest part takes: the notifier (every lead to its manager's inbox and
    # by e-mail) keeps up with about 12 leads/s on this machine, calls from new numbers included.
    parser.add_argument("--rate", type=float, default=4.0, help="leads/s (answered calls at half that)")
    parser.add_argument("--write", action="store_true", help="put the table in docs/BENCHMARKS.md")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="crmhub-soak-"))
    windows, checks = asyncio.run(run(minutes=args.minutes, window=args.window, rate=args.rate, workdir=workdir))
    report = table(windows, checks, args.rate)
    print(report)
    if args.write:
        stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        body = f"Run of {stamp} (`make soak`, {args.minutes:g} minutes):\n\n{report}"
        put_section("soak", SOAK_HEADING, body)
    bad = (
        any(checks["lost"].values())
        or any(checks["twice"].values())
        or any(checks["not_notified"].values())
        or checks["duplicate_deliveries"]
    )
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
