"""Why a request could get no answer at all (issue 10, item 8), measured: 32 clients post leads to
one leads process, each pausing about as long as the keep-alive timeouts between requests — the
moment a reused connection can be closed by the server as the client sends on it. Run once per
server keep-alive setting given:

    .venv/bin/python bench/keepalive_race.py 5 75     # uvicorn's default, then the hub's

Measured 2026-11-27 on this machine: 5 s: 4 of 1,280 requests got no answer; 75 s: 0 of 1,280.
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import tempfile
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "deploy" / "local")]
from localservers import free_port, start_kafka, start_mongo, start_service  # noqa: E402


async def drive(url: str, workers: int = 32, per_worker: int = 40) -> dict[str, int]:
    counts = {"answered": 0, "no answer": 0}
    async with httpx.AsyncClient(timeout=30) as http:  # httpx keeps an idle connection 5 s

        async def worker() -> None:
            for _ in range(per_worker):
                try:
                    await http.post(
                        f"{url}/v1/leads",
                        json={"phone": f"+7916{uuid.uuid4().int % 10**7:07d}"},
                        headers={"X-Api-Key": "demo-key"},
                    )
                    counts["answered"] += 1
                except httpx.TransportError:
                    counts["no answer"] += 1
                await asyncio.sleep(random.uniform(4.9, 5.1))

        await asyncio.gather(*(worker() for _ in range(workers)))
    return counts


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="crmhub-keepalive-"))
    kafka, mongo = start_kafka(work / "kafka"), start_mongo(work / "mongo")
    sources = json.loads((ROOT / "deploy" / "demo" / "lead-sources.json").read_text())
    for source in sources["sources"]:
        source |= {"rate_limit_per_minute": 1_000_000, "ip_rate_limit_per_minute": 1_000_000}
    (work / "sources.json").write_text(json.dumps(sources))
    try:
        for keep_alive in sys.argv[1:] or ["5", "75"]:
            env = {
                "KAFKA_BOOTSTRAP_SERVERS": kafka.address,
                "MONGODB_URL": mongo.address,
                "LEADS_SOURCES_FILE": str(work / "sources.json"),
                "LEADS_KEEP_ALIVE_SECONDS": keep_alive,
            }
            leads = start_service("leads", env=env, port=free_port(), log_path=work / f"leads-{keep_alive}.log")
            try:
                print(f"server keep-alive {keep_alive} s:", asyncio.run(drive(leads.address)), flush=True)
            finally:
                leads.stop()
    finally:
        kafka.stop()
        mongo.stop()


if __name__ == "__main__":
    main()
