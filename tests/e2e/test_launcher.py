"""`make run`'s launcher supervises like a process manager: a service killed with kill -9 is
started again while the others keep answering, and Ctrl-C ends the whole hub in seconds."""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from localservers import PYTHONPATH, free_port

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]


def _free_base() -> int:
    """A port base whose five service ports (base+1 … base+5) are all free, below the ephemeral
    range (32768 and up on Linux), where no passing client connection can take one meanwhile."""
    for _ in range(200):
        base = random.randrange(20000, 32000, 10)
        taken = False
        for offset in range(1, 6):
            with socket.socket() as probe:
                taken = taken or probe.connect_ex(("127.0.0.1", base + offset)) == 0
        if not taken:
            return base
    raise AssertionError("no free port base")


def _children(parent: int, needle: str) -> list[int]:
    found = subprocess.run(["pgrep", "-P", str(parent), "-f", needle], capture_output=True, text=True).stdout
    return [int(p) for p in found.split()]


def test_a_killed_service_comes_back_while_the_others_serve_and_ctrl_c_stops_all(tmp_path):
    base = _free_base()
    own_sources = tmp_path / "our-sources.json"  # the operator's own sources win over the demo's
    own_sources.write_text(
        json.dumps(
            {
                "sources": [
                    {
                        "id": "ops-site",
                        "format": "json",
                        "auth": {"secret": "ops-key-0123456789"},
                        "assignment": {"pool": {"department_id": "sales-msk"}},
                    }
                ]
            }
        )
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([*(str(p) for p in PYTHONPATH), str(ROOT / "deploy" / "local")]),
        "CRMHUB_DATA_DIR": str(tmp_path / "data"),
        "CRMHUB_PORT_BASE": str(base),
        "CRMHUB_KAFKA_PORT": str(free_port()),
        "CRMHUB_MONGO_PORT": str(free_port()),
        "CRMHUB_MAIL_PORT": str(free_port()),
        "LEADS_SOURCES_FILE": str(own_sources),
    }
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "MONGODB_URL", "CRMHUB_AUTH_ISSUER", "CRMHUB_AUTH_JWKS_URL"):
        env.pop(name, None)
    output = (tmp_path / "launcher.log").open("w")
    hub = subprocess.Popen(
        [sys.executable, str(ROOT / "deploy" / "local" / "run_hub.py")],
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        while "The CRM hub is running" not in (tmp_path / "launcher.log").read_text():
            assert hub.poll() is None, (tmp_path / "launcher.log").read_text()
            assert time.monotonic() < deadline, (tmp_path / "launcher.log").read_text()
            time.sleep(0.5)
        leads, telephony = f"http://127.0.0.1:{base + 1}", f"http://127.0.0.1:{base + 2}"
        lead = {"name": "Ops", "phone": "+79165550101"}
        try:
            ours = httpx.post(f"{leads}/v1/intake/ops-site", json=lead, headers={"X-Api-Key": "ops-key-0123456789"})
            demo = httpx.post(f"{leads}/v1/intake/demo-site", json=lead, headers={"X-Api-Key": "demo-key"})
        except httpx.HTTPError as exc:
            logs = "\n".join(p.read_text()[-3000:] for p in (tmp_path / "data" / "logs").glob("leads*.log"))
            raise AssertionError(f"{exc}\n{(tmp_path / 'launcher.log').read_text()}\n{logs}") from None
        assert (ours.status_code, demo.status_code) == (202, 404), (ours.text, demo.text)
        (victim,) = _children(hub.pid, "python -m telephony")
        os.kill(victim, signal.SIGKILL)
        answers_meanwhile = []
        deadline = time.monotonic() + 90
        while True:
            answers_meanwhile.append(httpx.get(f"{leads}/health", timeout=5).status_code)
            try:
                if httpx.get(f"{telephony}/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "launcher.log").read_text()
            time.sleep(0.5)
        assert set(answers_meanwhile) == {200}  # leads kept serving while telephony was down
        assert _children(hub.pid, "python -m telephony") not in ([], [victim])
        assert "telephony exited with -9; restarting it" in (tmp_path / "launcher.log").read_text()
        hub.send_signal(signal.SIGINT)
        assert hub.wait(timeout=60) == 0
        ports = [base + n for n in range(1, 6)] + [int(env["CRMHUB_KAFKA_PORT"]), int(env["CRMHUB_MONGO_PORT"])]
        for port in ports:  # nothing left listening: every child stopped with the launcher
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", port)) != 0, port
    finally:
        if hub.poll() is None:
            hub.kill()
            hub.wait()
        output.close()
