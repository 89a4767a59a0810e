"""`make run`: the whole hub on this machine with the demo configuration.

Starts Kafka and the MongoDB-wire server (unless KAFKA_BOOTSTRAP_SERVERS / MONGODB_URL name
existing ones), then the five services, loads the demo team directory, prints where
everything is, and on Ctrl-C stops it all in order. Data stays in .data/ between runs.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from localservers import (
    ROOT,
    SERVICES,
    ProvisioningError,
    RunningServer,
    read_env_file,
    start_kafka,
    start_mongo,
    start_service,
)

DATA = Path(os.environ.get("CRMHUB_DATA_DIR", ROOT / ".data"))
DEMO = ROOT / "deploy" / "demo"
# CRMHUB_PORT_BASE moves all five services (base+1 ... base+5), e.g. next to another hub.
_SHIFT = int(os.environ.get("CRMHUB_PORT_BASE", "8000")) - 8000
PORTS = {name: port + _SHIFT for name, port in SERVICES.items()}


def _post(url: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(  # noqa: S310 - loopback only
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def seed_demo_team(motivation_url: str) -> None:
    """Load deploy/demo/team.json through the REST API; entries that exist already are left as they are."""
    team = json.loads((DEMO / "team.json").read_text())
    for department in team["departments"]:
        _post(f"{motivation_url}/v1/team/departments", department)
    for manager in team["managers"]:
        _post(f"{motivation_url}/v1/team/managers", manager)
    for department_id, head in team["heads"].items():
        request = urllib.request.Request(  # noqa: S310
            f"{motivation_url}/v1/team/departments/{department_id}",
            data=json.dumps({"head_manager_id": head}).encode(),
            headers={"Content-Type": "application/json"},
            method="PATCH",
        )
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback only
            pass


def main() -> int:
    started: list[RunningServer] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        env = read_env_file(DEMO / "hub.env")
        kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not kafka:
            print("starting Kafka (KRaft) ...", flush=True)
            server = start_kafka(DATA / "kafka", port=int(os.environ.get("CRMHUB_KAFKA_PORT", "9092")))
            started.append(server)
            kafka = server.address
        mongo = os.environ.get("MONGODB_URL")
        if not mongo:
            print("starting the MongoDB-wire server ...", flush=True)
            server = start_mongo(DATA / "mongo", port=int(os.environ.get("CRMHUB_MONGO_PORT", "27017")))
            started.append(server)
            mongo = server.address
        env |= {"KAFKA_BOOTSTRAP_SERVERS": kafka, "MONGODB_URL": mongo}
        for name in SERVICES:
            print(f"starting {name} ...", flush=True)
            started.append(start_service(name, env=env, port=PORTS[name], log_path=DATA / "logs" / f"{name}.log"))
        seed_demo_team(f"http://127.0.0.1:{PORTS['motivation']}")
    except ProvisioningError as exc:
        print(f"\nthe hub could not start: {exc}", file=sys.stderr)
        for server in reversed(started):
            server.stop()
        return 1

    print("\nThe CRM hub is running (demo configuration). Ctrl-C stops it.\n")
    print(f"  Kafka            {kafka}")
    print(f"  MongoDB-wire     {mongo}")
    for name, port in PORTS.items():
        print(f"  {name:<16} http://127.0.0.1:{port}   (docs: /docs, events: /asyncapi, /health, /ready, /metrics)")
    print(f"\n  logs: {DATA / 'logs'}/<service>.log    demo team: deploy/demo/team.json")
    print(f"  try:  curl -s localhost:{PORTS['motivation']}/v1/team/managers | python -m json.tool\n", flush=True)

    while not stopping:
        for server in started:
            if server.process.poll() is not None:
                print(
                    f"{server.name} exited with {server.process.returncode}; stopping the hub.\n{server.log_tail()}",
                    file=sys.stderr,
                )
                stopping = True
        time.sleep(0.5)

    print("\nstopping ...", flush=True)
    for server in reversed(started):
        server.stop()
    print("stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
