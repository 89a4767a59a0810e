"""Across services, as processes: a site form -> leads assigns it -> the manager's e-mail
arrives at a real SMTP server with the lead's details; nobody takes it in time -> the head is
told; a missed call -> the manager is told; no call back in time -> the head is told; the
notifier restarted in the middle duplicates and loses nothing."""

from __future__ import annotations

import json
import sys
import time
import uuid
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx
import pytest

from localservers import free_port, start_service
from support.fakes import SmtpSink
from support.hub import SECRET, LeadsHub, phone
from support.tokens import admin_headers

pytestmark = pytest.mark.e2e
KEY = "e2e-telephony-key-0123"


def _wait_for(check, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "not delivered in time"
        time.sleep(0.2)


def test_the_right_people_hear_about_leads_and_calls_once(infra, tmp_path):
    smtp = SmtpSink().start()
    hub = LeadsHub(infra.kafka, infra.mongo, tmp_path).start()
    u = hub.unique
    (tmp_path / "providers.json").write_text(
        json.dumps(
            {
                "providers": [
                    {
                        "id": f"pbx-{u}",
                        "format": "json",
                        "secret": KEY,
                        # long enough for the caller's new lead to be assigned first: the call-back is then its manager's
                        "callback_window_minutes": 0.25,
                        "extensions": {"101": hub.managers[0]},
                    }
                ]
            }
        )
    )
    base = {"KAFKA_BOOTSTRAP_SERVERS": infra.kafka, "MONGODB_URL": infra.mongo}
    notifier_env = {
        **base,
        "NOTIFIER_MONGODB_DATABASE": f"{hub.database}_notifier",
        "NOTIFIER_SMTP_HOST": "127.0.0.1",
        "NOTIFIER_SMTP_PORT": str(smtp.port),
        "NOTIFIER_DEFAULT_CHANNELS": "email",
        "NOTIFIER_OUTBOX_POLL_SECONDS": "0.2",
        "NOTIFIER_BURST_LIMIT": "100",
    }
    telephony_env = {
        **base,
        "TELEPHONY_MONGODB_DATABASE": f"{hub.database}_telephony",
        "TELEPHONY_PROVIDERS_FILE": str(tmp_path / "providers.json"),
        "TELEPHONY_TIMER_POLL_SECONDS": "0.2",
        "TELEPHONY_OUTBOX_POLL_SECONDS": "0.2",
    }
    notifier = start_service(
        "notifier", env=notifier_env, port=free_port(), log_path=tmp_path / "notifier-1.log", python=sys.executable
    )
    telephony = start_service(
        "telephony", env=telephony_env, port=free_port(), log_path=tmp_path / "telephony.log", python=sys.executable
    )
    try:
        _wait_for(lambda: httpx.get(f"{notifier.address}/ready", timeout=5).status_code == 200)
        # 1. a site form: the manager it is assigned to gets the details by e-mail
        client = phone()
        form = urlencode({"name": "Ирина", "phone": client, "comment": "Нужен шкаф-купе"})
        response = httpx.post(
            f"{hub.leads.address}/v1/intake/{hub.source('form')}?api_key={SECRET}",
            content=form,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            timeout=10,
        )
        assert response.status_code == 303
        lead_id = response.headers["location"].split("lead_id=")[1]
        manager = httpx.get(f"{hub.leads.address}/v1/leads/{lead_id}", timeout=5, headers=admin_headers()).json()[
            "manager_id"
        ]
        mail = _wait_for(lambda: [m for m in smtp.to(f"{manager}@example.com") if lead_id in m.get_content()])[0]
        assert client in mail.get_content()
        assert "Нужен шкаф-купе" in mail.get_content()

        # 2. nobody takes a lead within its (shortened) SLA: the head of department is told
        slow = httpx.post(
            f"{hub.leads.address}/v1/leads",
            json={"name": "Медленный", "phone": phone()},
            headers={"X-Api-Key": f"{SECRET}-slow"},
            timeout=10,
        )
        slow_id = slow.json()["lead_id"]
        escalation = _wait_for(lambda: [m for m in smtp.to(f"{hub.head}@example.com") if slow_id in str(m["Subject"])])[
            0
        ]
        assert str(escalation["Subject"]).startswith("СРОЧНО")

        # 3. the notifier restarts in the middle of it all
        restarted_lead = httpx.post(
            f"{hub.leads.address}/v1/leads",
            json={"name": "Во время рестарта", "phone": phone()},
            headers={"X-Api-Key": SECRET},
            timeout=10,
        )
        restarted_id = restarted_lead.json()["lead_id"]
        notifier.stop()
        notifier = start_service(
            "notifier", env=notifier_env, port=free_port(), log_path=tmp_path / "notifier-2.log", python=sys.executable
        )

        # 4. a missed call: the manager it was meant for is told; nobody calls back: the head is told
        caller = phone()
        now = datetime.now(UTC)
        missed = {
            "call_id": f"c-{uuid.uuid4().hex[:6]}",
            "event": "ended",
            "at": now.isoformat(),
            "direction": "inbound",
            "caller": caller,
            "callee": "+74951110000",
            "extension": "101",
            "outcome": "missed",
        }
        assert (
            httpx.post(
                f"{telephony.address}/v1/telephony/pbx-{u}/events", json=missed, headers={"X-Api-Key": KEY}, timeout=10
            ).status_code
            == 200
        )
        # the manager also gets the urgent overdue alert, and maybe the caller's new lead, in any order
        told = _wait_for(
            lambda: [
                m
                for m in smtp.to(f"{hub.managers[0]}@example.com")
                if caller in str(m["Subject"]) and str(m["Subject"]).startswith("Пропущенный звонок")
            ]
        )
        assert len(told) == 1
        overdue = _wait_for(
            lambda: [m for m in smtp.to(f"{hub.head}@example.com") if caller in str(m["Subject"])], timeout=45
        )
        assert str(overdue[0]["Subject"]).startswith("СРОЧНО: не перезвонили")

        # nothing was lost or sent twice across the restart
        about_restarted = _wait_for(lambda: [m for m in smtp.messages if restarted_id in m.get_content()])
        time.sleep(2)
        assert len([m for m in smtp.messages if restarted_id in m.get_content()]) == 1 == len(about_restarted)
        assert len([m for m in smtp.to(f"{manager}@example.com") if lead_id in m.get_content()]) == 1
        # one missed call, one obligation: the overdue call-back is the caller's lead manager's
        leads_of_caller = [
            lead
            for lead in httpx.get(
                f"{hub.leads.address}/v1/leads", params={"limit": 500}, timeout=5, headers=admin_headers()
            ).json()["items"]
            if lead["contact"]["phone"] == caller
        ]
        (owner,) = {lead["manager_id"] for lead in leads_of_caller}
        urgent = [m for m in smtp.messages if caller in str(m["Subject"]) and str(m["Subject"]).startswith("СРОЧНО")]
        assert sorted(str(m["To"]) for m in urgent) == sorted([f"{owner}@example.com", f"{hub.head}@example.com"])
        about_the_call = [
            str(m["Subject"]).split(":")[0]
            for m in smtp.to(f"{hub.managers[0]}@example.com")
            if caller in str(m["Subject"]) and str(m["Subject"]).startswith("Пропущенный звонок")
        ]
        assert about_the_call == ["Пропущенный звонок"]  # the manager the call was meant for, once
    finally:
        notifier.stop()
        telephony.stop()
        hub.stop()
        smtp.stop()
