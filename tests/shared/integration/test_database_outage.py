"""A database that dies and comes back: the service answers 503 meanwhile (never hangs, never a
500), says so once when the outage starts and once when it ends, shows it as a gauge, keeps
/health green (a database outage is not a wedged process), and takes leads again within seconds
of the database returning — with every lead it acknowledged before the kill still there."""

from __future__ import annotations

import json
import sys
import time
import uuid

import httpx
import pytest

from localservers import free_port, start_mongo, start_service
from support.tokens import admin_headers

pytestmark = pytest.mark.integration
KEY = "outage-key-0123456789"


def _lead(url: str) -> httpx.Response:
    phone = f"+7916{uuid.uuid4().int % 10**7:07d}"
    return httpx.post(f"{url}/v1/leads", json={"phone": phone}, headers={"X-Api-Key": KEY}, timeout=15)


def _gauge(url: str) -> str:
    lines = httpx.get(f"{url}/metrics", timeout=5).text.splitlines()
    return next(line.split()[-1] for line in lines if line.startswith('crmhub_dependency_up{dependency="mongodb"}'))


def _eventually(check, timeout: float = 30.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, "condition not met"
        time.sleep(0.2)


def test_the_service_rides_out_a_killed_database(infra, tmp_path):
    port = free_port()
    mongo = start_mongo(tmp_path / "db", port=port)
    sources = {
        "sources": [
            {
                "id": "site",
                "format": "json",
                "auth": {"secret": KEY},
                "assignment": {"pool": {"department_id": "nowhere"}},
            }
        ]
    }
    (tmp_path / "sources.json").write_text(json.dumps(sources))
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
        "MONGODB_URL": mongo.address,
        "LEADS_MONGODB_DATABASE": f"t_outage_{uuid.uuid4().hex[:8]}",
        "LEADS_SOURCES_FILE": str(tmp_path / "sources.json"),
        "LEADS_ENVIRONMENT": "test",
        "LEADS_DEPENDENCY_CHECK_SECONDS": "0.5",
    }
    leads = start_service("leads", env=env, port=free_port(), log_path=tmp_path / "leads.log", python=sys.executable)
    try:
        before = [_lead(leads.address) for _ in range(20)]
        assert {r.status_code for r in before} == {202}
        mongo.process.kill()
        mongo.process.wait()
        during = _lead(leads.address)
        assert during.status_code == 503, during.text
        _eventually(lambda: _gauge(leads.address) == "0.0")
        assert httpx.get(f"{leads.address}/ready", timeout=10).status_code == 503
        assert httpx.get(f"{leads.address}/health", timeout=10).status_code == 200
        mongo = start_mongo(tmp_path / "db", port=port)
        _eventually(lambda: _lead(leads.address).status_code == 202)  # within the helper's 30 s
        _eventually(lambda: _gauge(leads.address) == "1.0")
        for answer in before:  # acknowledged before the kill: still there
            found = httpx.get(
                f"{leads.address}/v1/leads/{answer.json()['lead_id']}", headers=admin_headers(), timeout=10
            )
            assert found.status_code == 200, found.text
        log = (tmp_path / "leads.log").read_text()
        assert log.count("mongodb unavailable") == 1
        assert log.count("mongodb is back after") == 1
    finally:
        leads.stop()
        mongo.stop()
