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


def main() -> int:
    started: list[RunningServer] = []
    mailbox: DemoMailbox | None = None
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
        for name in SERVICES:
            print(f"starting {name} ...", flush=True)
            started.append(start_service(name, env=env, port=PORTS[name], log_path=DATA / "logs" / f"{name}.log"))
        seed_demo_team(motivation_url, admin_password)
    except ProvisioningError as exc:
        print(f"\nthe hub could not start: {exc}", file=sys.stderr)
        for server in reversed(started):
            server.stop()
        if mailbox is not None:
            mailbox.stop()
        return 1

    print()
    print(f"  Kafka            {kafka}")
    print(f"  MongoDB-wire     {mongo}")
    for name, port in PORTS.items():
        print(f"  {name:<16} http://127.0.0.1:{port}   (docs: /docs, events: /asyncapi, /health, /ready, /metrics)")
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
    if mailbox is not None:
        mailbox.stop()
    print("stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
