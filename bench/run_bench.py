"""`make bench`: measure the hub against the raw ceilings of its own servers, in one run.

Starts Kafka and the MongoDB-wire server (or uses KAFKA_BOOTSTRAP_SERVERS / MONGODB_URL),
measures the bare Kafka produce rate and the bare database insert rate, then each scenario,
and writes bench/results/<time>.json, bench/results/latest.json and docs/BENCHMARKS.md (a run
with --only writes <time>.json and its own section of docs/BENCHMARKS.md).

  python bench/run_bench.py [--quick] [--only NAME ...] [--largest N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "deploy" / "local"), str(ROOT / "shared")]

from crmhub import topics  # noqa: E402
from crmhub.kafka import ensure_topics  # noqa: E402
from localservers import RunningServer, start_kafka, start_mongo  # noqa: E402
from page import ONLY_HEADING, REPORT, SOAK_HEADING, markers, put_section, section  # noqa: E402
from scenarios import SCENARIOS, BenchContext  # noqa: E402

RESULTS = ROOT / "bench" / "results"


def _machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()}


def _table(result: dict[str, Any]) -> list[str]:
    lines = [
        "| scenario | figure | value | unit | ratio to ceiling |",
        "|---|---|---|---|---|",
    ]
    for scenario in result["scenarios"]:
        for figure in scenario["figures"]:
            ratio = f"{figure['ratio']:.2f} of {figure['ceiling']}" if figure.get("ratio") is not None else ""
            lines.append(
                f"| {scenario['name']} | {figure['name']} | {figure['value']:.1f} | {figure['unit']} | {ratio} |"
            )
    return lines


def write_report(result: dict[str, Any]) -> None:
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (bench/run_bench.py); the raw JSON of each run is in `bench/results/`.",
        "Every figure is measured in the same run as the raw ceilings of the servers it uses, so the",
        "ratio column is what carries over between machines; absolute numbers are this machine's.",
        "",
        f"Last run: {result['started']} on {result['machine']['cpus']} CPUs, Python {result['machine']['python']},",
        f"Kafka {result['servers']['kafka']}, MongoDB-wire server: {result['servers']['mongo']}.",
        f"reads_at_size stored up to {result['largest']:,} records (`--largest`).",
        "",
        *_table(result),
    ]
    lines += ["", "## What each scenario does", ""]
    for scenario in result["scenarios"]:
        lines.append(f"- **{scenario['name']}**: {scenario['description']}")
    notes = ROOT / "bench" / "NOTES.md"
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    for name, heading, empty in (("only", ONLY_HEADING, "Not run yet."), ("soak", SOAK_HEADING, "Not run yet.")):
        start, end = markers(name)
        lines += ["", heading, "", start, section(name, empty), end]
    REPORT.write_text("\n".join(lines) + "\n")


def write_partial(result: dict[str, Any], only: list[str]) -> None:
    """A run of some scenarios (`--only`): its own table, with the ceilings of that run, in its
    own section of docs/BENCHMARKS.md; the full run's table is left as it was."""
    body = "\n".join(
        [
            f'Run of {result["started"]} (`make bench BENCH_ARGS="--only {" ".join(only)} '
            f'--largest {result["largest"]}"`, raw JSON in `bench/results/`), with the ceilings of',
            "the same run:",
            "",
            *_table(result),
        ]
    )
    put_section("only", ONLY_HEADING, body, before=SOAK_HEADING)


async def main_async(
    args: argparse.Namespace, kafka: str, mongo: str, servers: dict[str, str], workdir: Path
) -> dict[str, Any]:
    ctx = BenchContext(kafka=kafka, mongo=mongo, quick=args.quick, workdir=workdir, largest=args.largest)
    await ensure_topics(kafka, topics.ALL)
    result: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "largest": args.largest,
        "machine": _machine(),
        "servers": servers,
        "scenarios": [],
    }
    for name, scenario in SCENARIOS.items():
        if args.only and name not in args.only and name != "ceilings":
            continue
        print(f"bench: {name} ...", flush=True)
        figures = await scenario.run(ctx)
        result["scenarios"].append({"name": name, "description": scenario.description, "figures": figures})
        for figure in figures:
            print(f"  {figure['name']}: {figure['value']:.1f} {figure['unit']}", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a smoke test")
    parser.add_argument("--only", nargs="*", default=[], help="scenario names (the ceilings always run)")
    parser.add_argument(
        "--largest", type=int, default=1_000_000, help="the most records reads_at_size stores (10k, 100k, 1M)"
    )
    args = parser.parse_args()
    started: list[RunningServer] = []
    with tempfile.TemporaryDirectory(prefix="crmhub-bench-") as tmp:
        workdir = Path(tmp)
        try:
            kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
            mongo = os.environ.get("MONGODB_URL", "")
            servers = {"kafka": "external", "mongo": "external"}
            if not kafka:
                server = start_kafka(workdir / "kafka", heap_mib=1024)
                started.append(server)
                kafka, servers["kafka"] = server.address, "4.4.0 (local KRaft)"
            if not mongo:
                server = start_mongo(workdir / "mongo")
                started.append(server)
                mongo, servers["mongo"] = server.address, server.name
            result = asyncio.run(main_async(args, kafka, mongo, servers, workdir))
        finally:
            for server in reversed(started):
                server.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.quick:  # a smoke test: never mistaken for the published figures
        (RESULTS / "quick.json").write_text(json.dumps(result, indent=2) + "\n")
        print(f"bench: quick results in {RESULTS / 'quick.json'} (docs/BENCHMARKS.md is left as it was)")
        return 0
    stamp = result["started"].replace(":", "").replace("-", "")
    if args.only:  # some scenarios: a section of its own; latest.json stays the last full run
        (RESULTS / f"{stamp}.json").write_text(json.dumps(result, indent=2) + "\n")
        write_partial(result, args.only)
        print(f"bench: results in {RESULTS / f'{stamp}.json'} and a section of {REPORT}")
        return 0
    for path in (RESULTS / f"{stamp}.json", RESULTS / "latest.json"):
        path.write_text(json.dumps(result, indent=2) + "\n")
    write_report(result)
    print(f"bench: results in {RESULTS / 'latest.json'} and {REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
