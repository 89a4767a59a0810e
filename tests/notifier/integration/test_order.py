"""A person's e-mails go out in the order their events happened, although the events come on
several partitions and one partition is read well ahead of another: each message waits until
every partition has been handled past its event (crmhub.watermarks). The inbox does not wait."""

from __future__ import annotations

import re
import sys
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer

from crmhub.events import new_event, to_record
from crmhub.schemas.leads import LeadAssigned, LeadContact, LeadSummary
from crmhub.schemas.team import Department, DepartmentUpserted, Manager, ManagerUpserted
from crmhub.team_directory import department_key, manager_key
from localservers import free_port, start_service
from support.fakes import SmtpSink
from support.kafka import eventually, produce
from support.team import ALL_WEEK

pytestmark = pytest.mark.integration
EVENTS = 40
MARKER = re.compile(r"ORDER-(\d+)")


async def test_a_persons_emails_go_out_in_event_order_whichever_partition_is_read_ahead(infra, tmp_path):
    u = uuid.uuid4().hex[:8]
    smtp = SmtpSink().start()
    manager = Manager(
        id=f"order-{u}", name="Order", department_id=f"d-{u}", email=f"order.{u}@example.com", working_hours=ALL_WEEK
    )
    department = Department(id=f"d-{u}", name="D", region="Moscow", head_manager_id=manager.id)
    team = [
        to_record(
            new_event(
                DepartmentUpserted(change="created", version=1, department=department),
                source="/t",
                subject=department_key(department.id),
            )
        ),
        to_record(
            new_event(
                ManagerUpserted(change="created", version=1, manager=manager),
                source="/t",
                subject=manager_key(manager.id),
            )
        ),
    ]
    await produce(infra.kafka, "crm.team", [(r.key, r.value, r.headers) for r in team])

    # A backlog, 20 ms apart in time, alternating between two partitions. Partition 0's events
    # are large (one fills a fetch: the notifier reads 8 KiB per partition per turn), partition
    # 1's small: partition 1 is read many events ahead of partition 0.
    start = datetime.now(UTC) - timedelta(seconds=5)
    producer = AIOKafkaProducer(bootstrap_servers=infra.kafka, enable_idempotence=True)
    await producer.start()
    try:
        for i in range(EVENTS):
            at = start + timedelta(milliseconds=20 * i)
            lead = LeadSummary(
                lead_id=f"L-{u}-{i}",
                source_id="site",
                contact=LeadContact(name="Клиент", phone="+79160000001"),
                message=f"ORDER-{i:03d} " + ("x" * 7000 if i % 2 == 0 else ""),
            )
            data = LeadAssigned(
                lead=lead,
                manager_id=manager.id,
                department_id=department.id,
                reason="new_lead",
                assigned_at=at,
                sla_deadline=at + timedelta(minutes=15),
            )
            record = to_record(new_event(data, source="/crm/leads", subject=lead.lead_id, time=at))
            headers = [(k, v.encode()) for k, v in record.headers.items()]
            await producer.send_and_wait("crm.leads", record.value, key=record.key, headers=headers, partition=i % 2)
    finally:
        await producer.stop()

    server = start_service(
        "notifier",
        env={
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
            "MONGODB_URL": infra.mongo,
            "NOTIFIER_MONGODB_DATABASE": f"t_order_{u}",
            "NOTIFIER_SMTP_HOST": "127.0.0.1",
            "NOTIFIER_SMTP_PORT": str(smtp.port),
            "NOTIFIER_DEFAULT_CHANNELS": "email",
            "NOTIFIER_BURST_LIMIT": "0",
        },
        port=free_port(),
        log_path=tmp_path / "notifier.log",
        python=sys.executable,
    )
    try:
        address = manager.email or ""
        await eventually(lambda: len(smtp.to(address)) >= EVENTS, timeout=120)
        arrived = [int(MARKER.search(str(m.get_content())).group(1)) for m in smtp.to(address)]  # type: ignore[union-attr]
        assert arrived == list(range(EVENTS))
    finally:
        server.stop()
        smtp.stop()
