"""`make run`: the whole hub on this machine with the demo configuration.

Starts Kafka and the MongoDB-wire server (unless KAFKA_BOOTSTRAP_SERVERS / MONGODB_URL name
existing ones), then the five services, loads the demo team directory and prints where
everything is. It supervises them like a process manager: a process that exits is restarted
(with backoff while it cannot start) and the others keep serving. Ctrl-C stops it all in
seconds, services first (a second Ctrl-C leaves at once). Data stays in .data/ between runs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demo_mailbox import DemoMailbox
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
MAIL_PORT = int(os.environ.get("CRMHUB_MAIL_PORT", "2525"))
PORTS = {name: port + _SHIFT for name, port in SERVICES.items()}
REPLICA_PORT_STEP = 10  # a service's second instance listens 10 above its first, the third 20 ...


def replicas(setting: str) -> dict[str, int]:
    """CRMHUB_REPLICAS, e.g. "leads=2,notifier=2": how many instances of each service to run
    (one unless named). Instances of a service share its consumer groups and database, as
    replicas behind a load balancer do in production."""
    counts = dict.fromkeys(SERVICES, 1)
    for part in filter(None, (p.strip() for p in setting.split(","))):
        name, _, count = part.partition("=")
        if name.strip() not in SERVICES or not count.strip().isdigit() or not 1 <= int(count) <= 9:
            raise ProvisioningError(
                f"CRMHUB_REPLICAS: {part!r} is not <service>=<1..9> (services: {', '.join(SERVICES)})"
            )
        counts[name.strip()] = int(count)
    return counts


def _call(method: str, url: str, body: dict[str, Any], token: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"Content-Type": "application/json", **({"Authorization": f"Bearer {token}"} if token else {})}
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method=method)  # noqa: S310 - loopback only
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback only
            return int(response.status), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def seed_demo_team(motivation_url: str, admin_password: str) -> None:
    """Sign in as the first administrator and load deploy/demo/team.json through the REST API,
    with the demo people's accounts (deploy/demo/accounts.json). Entries that exist already are
    left as they are, so passwords changed since keep working."""
    status, tokens = _call("POST", f"{motivation_url}/v1/auth/login", {"login": "admin", "password": admin_password})
    if status != 200:  # its password was changed since the first run: the team is there already
        print(
            f"note: the demo administrator's password is not the demo one any more (HTTP {status}); the demo team is left as it is"
        )
        return
    token = tokens["access_token"]
    team = json.loads((DEMO / "team.json").read_text())
    accounts = json.loads((DEMO / "accounts.json").read_text())
    for department in team["departments"]:
        _call("POST", f"{motivation_url}/v1/team/departments", department, token)
    salaries: dict[str, str] = {}
    for entry in team["managers"]:
        manager = dict(entry)
        salary = manager.pop("base_salary", None)  # pay data: a pay profile, not the directory
        created, _ = _call("POST", f"{motivation_url}/v1/team/managers", manager, token)
        if created == 201 and manager["id"] in accounts:
            _call("PUT", f"{motivation_url}/v1/accounts/{manager['id']}", accounts[manager["id"]], token)
        if created == 201 and salary is not None:
            salaries[manager["id"]] = salary
    for department_id, head in team["heads"].items():
        _call("PATCH", f"{motivation_url}/v1/team/departments/{department_id}", {"head_manager_id": head}, token)
    for manager_id, salary in salaries.items():
        # the service knows a new manager once its own copy of crm.team has them: a moment
        for _ in range(50):
            status, _ = _call("PUT", f"{motivation_url}/v1/pay-profiles/{manager_id}", {"base_salary": salary}, token)
            if status == 200:
                break
            time.sleep(0.2)


def sign_in_help(motivation_url: str, admin_password: str) -> str:
    accounts = json.loads((DEMO / "accounts.json").read_text())
    people = [("admin", "admin", admin_password)] + [(who, a["roles"][0], a["password"]) for who, a in accounts.items()]
    lines = [f"    {who:<8} {role:<8} {password}" for who, role, password in people]
    return (
        "  sign in (demo accounts; change a password with POST /v1/auth/password):\n"
        + "\n".join(lines)
        + f"\n  token=$(curl -s {motivation_url}/v1/auth/login -H 'Content-Type: application/json' \\\n"
        + f'      -d \'{{"login":"admin","password":"{admin_password}"}}\' | python -c \'import json,sys; print(json.load(sys.stdin)["access_token"])\')\n'
    )


@dataclass
class Child:
    """A process the launcher keeps running: how to start it again, and when it may be tried."""

    name: str
    start: Callable[[], RunningServer]
    server: RunningServer
    infrastructure: bool = False
    restarts: int = 0
    retry_at: float = 0.0


def supervise(children: list[Child], now: float) -> None:
    """Restart whoever exited, with backoff (1, 2, 4 … 30 s between failed tries); the others
    keep serving meanwhile."""
    for child in children:
        if child.server.process.poll() is None or now < child.retry_at:
            continue
        code = child.server.process.returncode
        print(f"{child.name} exited with {code}; restarting it (restart {child.restarts + 1}) ...", flush=True)
        child.restarts += 1
        try:
            child.server = child.start()
        except ProvisioningError as exc:
            child.retry_at = time.monotonic() + min(30.0, 2.0 ** min(child.restarts, 5))
            print(f"{child.name} did not come back ({exc}); trying again shortly", file=sys.stderr, flush=True)
        else:
            child.retry_at = 0.0
            print(f"{child.name} is back", flush=True)


def stop_all(children: list[Child]) -> None:
    """Services first, then Kafka and the database: each group told to stop at once and given a
    short grace before it is killed, so Ctrl-C ends the hub in seconds in any state."""
    for group, grace in (
        ([c for c in children if not c.infrastructure], 10.0),
        ([c for c in children if c.infrastructure], 15.0),
    ):
        for child in group:
            if child.server.process.poll() is None:
                child.server.process.terminate()
        deadline = time.monotonic() + grace
        for child in group:
            try:
                child.server.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.server.process.kill()
                child.server.process.wait()


def main() -> int:
    children: list[Child] = []
    mailbox: DemoMailbox | None = None
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        if stopping:  # a second Ctrl-C while something is starting: leave at once
            raise KeyboardInterrupt
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        env = demo_settings(read_env_file(DEMO / "hub.env"), os.environ)
        kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not kafka:
            print("starting Kafka (KRaft) ...", flush=True)
            kafka_port = int(os.environ.get("CRMHUB_KAFKA_PORT", "9092"))
            children.append(child("kafka", lambda: start_kafka(DATA / "kafka", port=kafka_port), infrastructure=True))
            kafka = children[-1].server.address
        mongo = os.environ.get("MONGODB_URL")
        if not mongo:
            print("starting the MongoDB-wire server ...", flush=True)
            mongo_port = int(os.environ.get("CRMHUB_MONGO_PORT", "27017"))
            children.append(child("mongodb", lambda: start_mongo(DATA / "mongo", port=mongo_port), infrastructure=True))
            mongo = children[-1].server.address
        env |= {"KAFKA_BOOTSTRAP_SERVERS": kafka, "MONGODB_URL": mongo}
        if "NOTIFIER_SMTP_HOST" not in os.environ:  # the demo's e-mail goes to a local mailbox
            mailbox = DemoMailbox(DATA / "mail", DATA / "logs" / "mail.log", MAIL_PORT).start()
            env |= {"NOTIFIER_SMTP_HOST": "127.0.0.1", "NOTIFIER_SMTP_PORT": str(MAIL_PORT)}
        motivation_url = f"http://127.0.0.1:{PORTS['motivation']}"
        # The motivation service signs the access tokens every service checks; the caller's own
        # CRMHUB_AUTH_* (another issuer) win.
        env.setdefault("CRMHUB_AUTH_ISSUER", os.environ.get("CRMHUB_AUTH_ISSUER", motivation_url))
        env.setdefault(
            "CRMHUB_AUTH_JWKS_URL", os.environ.get("CRMHUB_AUTH_JWKS_URL", f"{motivation_url}/.well-known/jwks.json")
        )
        admin_password = os.environ.get(
            "MOTIVATION_BOOTSTRAP_ADMIN_PASSWORD", env.get("MOTIVATION_BOOTSTRAP_ADMIN_PASSWORD", "")
        )
        for name, count in replicas(os.environ.get("CRMHUB_REPLICAS", "")).items():
            for instance in range(count):
                label = name if instance == 0 else f"{name}#{instance + 1}"
                print(f"starting {label} ...", flush=True)
                children.append(child(label, service_starter(name, env, instance)))
        seed_demo_team(motivation_url, admin_password)
    except (ProvisioningError, KeyboardInterrupt) as exc:
        print(f"\nthe hub could not start: {exc or 'interrupted'}", file=sys.stderr)
        stop_all(children)
        if mailbox is not None:
            mailbox.stop()
        return 1

    print()
    print(f"  Kafka            {kafka}")
    print(f"  MongoDB-wire     {mongo}")
    for name, port in PORTS.items():
        print(f"  {name:<16} http://127.0.0.1:{port}   (docs: /docs, events: /asyncapi, /health, /ready, /metrics)")
    for c in children:
        if "#" in c.name:
            print(f"  {c.name:<16} {c.server.address}   (another instance of {c.name.split('#')[0]})")
    print(f"\n  logs: {DATA / 'logs'}/<service>.log    demo team: deploy/demo/team.json")
    if mailbox is not None:
        print(
            f"  e-mail: smtp://127.0.0.1:{MAIL_PORT} -> {DATA / 'mail'}/*.eml, one line each in {DATA / 'logs'}/mail.log"
        )
    print(sign_in_help(motivation_url, admin_password))
    print(
        f'  try:  curl -s localhost:{PORTS["motivation"]}/v1/team/managers -H "Authorization: Bearer $token" | python -m json.tool\n',
        flush=True,
    )
    print("The CRM hub is running (demo configuration). Ctrl-C stops it.\n", flush=True)

    try:
        while not stopping:
            supervise(children, time.monotonic())
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    print("\nstopping ...", flush=True)
    stop_all(children)
    if mailbox is not None:
        mailbox.stop()
    print("stopped.")
    return 0


def demo_settings(demo: dict[str, str], environment: Mapping[str, str]) -> dict[str, str]:
    """The demo configuration, except what the caller's environment sets itself: ops can run
    `make run` with their own LEADS_SOURCES_FILE, TELEPHONY_PROVIDERS_FILE or anything else."""
    return {name: value for name, value in demo.items() if name not in environment}


def child(name: str, start: Callable[[], RunningServer], *, infrastructure: bool = False) -> Child:
    return Child(name, start, start(), infrastructure=infrastructure)


def service_starter(name: str, env: dict[str, str], instance: int = 0) -> Callable[[], RunningServer]:
    port = PORTS[name] + REPLICA_PORT_STEP * instance
    log_name = name if instance == 0 else f"{name}-{instance + 1}"
    return lambda: start_service(name, env=env, port=port, log_path=DATA / "logs" / f"{log_name}.log")


if __name__ == "__main__":
    sys.exit(main())
