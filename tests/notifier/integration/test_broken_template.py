"""A template that cannot render never stops the notifier: the event goes to the dead-letter
topic with the error, a metric counts it, and the next events are delivered."""

from __future__ import annotations

import re
import shutil
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from crmhub.events import new_event, to_record
from crmhub.schemas.leads import LeadAssigned, LeadContact, LeadSlaBreached, LeadSummary
from crmhub.schemas.team import Manager, ManagerUpserted
from crmhub.team_directory import manager_key
from localservers import free_port, start_service
from support.kafka import eventually, headers_of, produce, read_topic
from support.tokens import person_headers

pytestmark = pytest.mark.integration
SHIPPED = Path(__file__).resolve().parents[3] / "services" / "notifier" / "notifier" / "templates"


async def test_a_broken_template_dead_letters_the_event_and_the_rest_flow(infra, tmp_path):
    templates = tmp_path / "templates"
    shutil.copytree(SHIPPED, templates)
    (templates / "ru" / "lead_assigned.txt").write_text("Заявка {{ lead.no_such_field.at_all }}\n")
    u = uuid.uuid4().hex[:8]
    manager = Manager(id=f"m-{u}", name="M", department_id=f"d-{u}", email=f"m.{u}@example.com")
    team = to_record(
        new_event(
            ManagerUpserted(change="created", version=1, manager=manager), source="/t", subject=manager_key(manager.id)
        )
    )
    await produce(infra.kafka, "crm.team", [(team.key, team.value, team.headers)])
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
        "MONGODB_URL": infra.mongo,
        "NOTIFIER_MONGODB_DATABASE": f"t_broken_{u}",
        "NOTIFIER_TEMPLATES_DIR": str(templates),
        "NOTIFIER_DEFAULT_CHANNELS": "inbox",
    }
    server = start_service(
        "notifier", env=env, port=free_port(), log_path=tmp_path / "notifier.log", python=sys.executable
    )
    try:
        now = datetime.now(UTC)
        lead = LeadSummary(lead_id=f"L-{u}", source_id="site", contact=LeadContact(phone="+79160000001"))
        broken = new_event(
            LeadAssigned(
                lead=lead,
                manager_id=manager.id,
                department_id="d",
                reason="new_lead",
                assigned_at=now,
                sla_deadline=now + timedelta(minutes=15),
            ),
            source="/crm/leads",
            subject=lead.lead_id,
        )
        fine = new_event(
            LeadSlaBreached(
                lead=lead,
                manager_id=manager.id,
                department_id="d",
                head_manager_id=None,
                deadline=now,
                breached_at=now,
                breach_number=1,
            ),
            source="/crm/leads",
            subject=lead.lead_id,
        )
        await produce(
            infra.kafka, "crm.leads", [(r.key, r.value, r.headers) for r in (to_record(broken), to_record(fine))]
        )
        dead = await read_topic(
            infra.kafka,
            "crm.leads.dlq",
            until=lambda rs: any(headers_of(r).get("ce_id") == broken.id for r in rs),
            timeout=30,
        )
        letter = next(headers_of(r) for r in dead if headers_of(r).get("ce_id") == broken.id)
        assert letter["dlq_reason"] == "poison"
        assert "lead_assigned" in letter["dlq_error"]
        assert letter["dlq_consumer_group"] == "notifier.leads"
        async with httpx.AsyncClient(base_url=server.address, timeout=10, headers=person_headers(manager.id)) as http:

            async def urgent_delivered():
                inbox = (await http.get(f"/v1/inbox/{manager.id}")).json()["items"]
                return [m for m in inbox if m["subject"].startswith("СРОЧНО")]

            await eventually(urgent_delivered, timeout=60)
            metrics = (await http.get("/metrics")).text
        # other tests' lead.assigned events on the shared topic meet the broken template too
        counted = re.search(
            r'notification_broken_templates_total\{language="ru",template="lead_assigned"\} (\d+)', metrics
        )
        assert counted is not None
        assert int(counted.group(1)) >= 1
        time.sleep(0.5)
    finally:
        server.stop()
