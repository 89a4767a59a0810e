"""Kafka with SASL/SCRAM and ACLs, as ops run it when other systems subscribe to the hub's
events: a broker started here with SCRAM users and ACLs; a hub service signs in with its own
principal, creates its topics and publishes; an external subscriber's read-only principal reads
the topic it was given and nothing else, and cannot write."""

from __future__ import annotations

import json
import sys

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from crmhub import topics
from crmhub.kafka import KafkaLogin, ensure_topics
from localservers import ProvisioningError, RunningServer, free_port, kafka_acl, start_kafka, start_service

pytestmark = pytest.mark.integration
HUB, BI = ("hub-services", "hub-password-0123"), ("bi-export", "bi-password-0123")


@pytest.fixture(scope="module")
def secured(tmp_path_factory) -> RunningServer:
    try:
        broker = start_kafka(tmp_path_factory.mktemp("kafka-sasl"), scram_users=dict([HUB, BI]), heap_mib=384)
        # the services: everything on the hub's topics and their groups, creating topics
        kafka_acl(
            broker,
            "--allow-principal",
            f"User:{HUB[0]}",
            "--operation",
            "All",
            "--topic",
            "crm.",
            "--resource-pattern-type",
            "prefixed",
        )
        kafka_acl(broker, "--allow-principal", f"User:{HUB[0]}", "--operation", "All", "--group", "*")
        kafka_acl(
            broker,
            "--allow-principal",
            f"User:{HUB[0]}",
            "--operation",
            "Create",
            "--operation",
            "IdempotentWrite",
            "--cluster",
        )
        # an external subscriber: read crm.leads in its own group, nothing else
        kafka_acl(
            broker,
            "--allow-principal",
            f"User:{BI[0]}",
            "--operation",
            "Read",
            "--operation",
            "Describe",
            "--topic",
            "crm.leads",
        )
        kafka_acl(broker, "--allow-principal", f"User:{BI[0]}", "--operation", "Read", "--group", "bi-export")
    except ProvisioningError as exc:
        pytest.fail(str(exc), pytrace=False)
    yield broker
    broker.stop()


def _login(user: tuple[str, str]) -> KafkaLogin:
    return KafkaLogin("SASL_PLAINTEXT", "SCRAM-SHA-512", *user)


async def test_a_hub_service_signs_in_with_its_principal_and_a_subscriber_reads_only_what_it_was_given(
    secured, infra, tmp_path, unique
):
    assert secured.sasl_address is not None
    await ensure_topics(secured.sasl_address, topics.ALL, login=_login(HUB))
    sources = tmp_path / "sources.json"
    sources.write_text(
        json.dumps({"sources": [{"id": "site", "format": "json", "auth": {"secret": "site-key-0123456789"}}]})
    )
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": secured.sasl_address,
        "KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "KAFKA_SASL_USERNAME": HUB[0],
        "KAFKA_SASL_PASSWORD": HUB[1],
        "MONGODB_URL": infra.mongo,
        "LEADS_MONGODB_DATABASE": f"t_sasl_{unique}",
        "LEADS_ENVIRONMENT": "test",
        "LEADS_SOURCES_FILE": str(sources),
    }
    leads = start_service(
        "leads", env=env, port=free_port(), log_path=tmp_path / "leads.log", python=sys.executable
    )  # ready: it signed in
    try:
        async with httpx.AsyncClient(timeout=10) as http:
            answer = await http.post(
                f"{leads.address}/v1/leads",
                json={"phone": "+79161112233"},
                headers={"X-Api-Key": "site-key-0123456789"},
                timeout=10,
            )
        assert answer.status_code == 202
        lead_id = answer.json()["lead_id"]

        subscriber = AIOKafkaConsumer(
            "crm.leads",
            bootstrap_servers=secured.sasl_address,
            group_id="bi-export",
            auto_offset_reset="earliest",
            **_login(BI).client_options(),
        )
        await subscriber.start()
        try:
            seen = []
            for _ in range(30):
                batch = await subscriber.getmany(timeout_ms=1000)
                seen += [r for records in batch.values() for r in records if r.key == lead_id.encode()]
                if seen:
                    break
            assert seen, "the subscriber never saw the lead's events"
        finally:
            await subscriber.stop()

        intruder = AIOKafkaProducer(bootstrap_servers=secured.sasl_address, **_login(BI).client_options())
        await intruder.start()
        try:
            with pytest.raises(KafkaError):  # read-only: it cannot write to the hub's topics
                await intruder.send_and_wait("crm.leads", b"{}", key=b"forged")
        finally:
            await intruder.stop()

        snooper = AIOKafkaConsumer(
            "crm.team", bootstrap_servers=secured.sasl_address, group_id="bi-export", **_login(BI).client_options()
        )
        try:
            with pytest.raises(KafkaError):  # and cannot read topics it was not given
                await snooper.start()
        finally:
            await snooper.stop()
    finally:
        leads.stop()


async def test_a_wrong_password_gets_no_connection(secured):
    with pytest.raises(KafkaError):
        await ensure_topics(secured.sasl_address or "", [topics.LEADS], login=_login((BI[0], "not-the-password")))
