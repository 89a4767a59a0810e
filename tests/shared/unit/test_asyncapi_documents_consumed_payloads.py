"""Each service's /asyncapi shows the payloads it consumes, not only those it publishes (the
subscribers declare their event types). Built in-process: nothing is started."""

from __future__ import annotations

import json

import httpx
import pytest

import leads.app
import notifier.app
import telephony.app
from leads.settings import LeadsSettings
from notifier.settings import NotifierSettings
from telephony.settings import TelephonySettings

NOWHERE = {"kafka_bootstrap_servers": "127.0.0.1:9", "mongodb_url": "mongodb://127.0.0.1:9/", "environment": "test"}


async def _receive_payloads(app) -> dict[str, str]:
    """channel address -> the JSON of the payload schemas its receive operations document."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://hub") as http:
        doc = (await http.get("/asyncapi.json")).json()
    schemas = doc["components"]["schemas"]
    found: dict[str, str] = {}
    for operation in doc["operations"].values():
        if operation["action"] != "receive":
            continue
        channel = doc["channels"][operation["channel"]["$ref"].split("/")[-1]]
        for message in channel["messages"].values():
            ref = doc["components"]["messages"][message["$ref"].split("/")[-1]]["payload"]["$ref"].split("/")[-1]
            found[channel["address"]] = found.get(channel["address"], "") + json.dumps(schemas[ref])
    return found


@pytest.mark.parametrize(
    ("build", "topic", "types"),
    [
        (lambda: leads.app.build_app(LeadsSettings(**NOWHERE)), "crm.calls", ["call.completed", "call.missed"]),
        (lambda: telephony.app.build_app(TelephonySettings(**NOWHERE)), "crm.calls", ["call.missed", "call.completed"]),
        (
            lambda: notifier.app.build_app(NotifierSettings(**NOWHERE)),
            "crm.leads",
            ["lead.assigned", "lead.sla_breached"],
        ),
    ],
    ids=["leads", "telephony", "notifier"],
)
async def test_the_consumed_event_types_and_their_fields_are_documented(build, topic, types):
    consumed = (await _receive_payloads(build()))[topic]
    for event_type in types:
        assert f"`{event_type}`" in consumed
    assert '"properties"' in consumed  # the payload's fields, not an empty schema
