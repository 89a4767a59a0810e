"""Telephony end to end: provider events over HTTP -> one record per call -> crm.calls; the
missed-call loop (call back made, or overdue); a call from an unknown number becomes a lead."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from localservers import free_port, start_service
from support.hub import LeadsHub, phone
from support.kafka import eventually, headers_of, read_topic
from support.tokens import admin_headers

pytestmark = pytest.mark.integration
KEY = "telephony-key-0123456789"


@pytest.fixture(scope="module")
def phones(infra, tmp_path_factory):
    """A leads hub (team, leads) plus a telephony process whose extensions are that team."""
    hub = LeadsHub(infra.kafka, infra.mongo, tmp_path_factory.mktemp("telephony")).start()
    providers = {
        "providers": [
            {
                "id": f"pbx-{hub.unique}",
                "format": "json",
                "secret": KEY,
                "lines": {"+74951110000": {"campaign": "radio"}},
                "extensions": {"101": hub.managers[0], "102": hub.managers[1]},
            },
            {"id": f"fast-{hub.unique}", "format": "json", "secret": KEY, "callback_window_minutes": 0.03},
            {"id": f"fenced-{hub.unique}", "format": "json", "secret": KEY, "allowed_ips": ["10.9.9.9"]},
        ]
    }
    path = hub.workdir / "providers.json"
    path.write_text(json.dumps(providers))
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
        "MONGODB_URL": infra.mongo,
        "TELEPHONY_MONGODB_DATABASE": f"{hub.database}_telephony",
        "TELEPHONY_PROVIDERS_FILE": str(path),
        "TELEPHONY_OUTBOX_POLL_SECONDS": "0.2",
        "TELEPHONY_TIMER_POLL_SECONDS": "0.2",
        "TELEPHONY_SETTLE_SECONDS": "2",
    }
    server = start_service(
        "telephony", env=env, port=free_port(), log_path=hub.workdir / "telephony.log", python=sys.executable
    )
    yield hub, server
    server.stop()
    hub.stop()


async def _post(http, provider: str, body: dict, key: str = KEY) -> httpx.Response:
    return await http.post(f"/v1/telephony/{provider}/events", json=body, headers={"X-Api-Key": key})


def _at(seconds: float = 0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def test_a_missed_call_then_a_call_back_measures_the_delay(phones):
    hub, server = phones
    client, pbx, call_id = phone(), f"pbx-{hub.unique}", f"in-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=server.address, timeout=10, headers=admin_headers()) as http:
        started = {
            "call_id": call_id,
            "event": "started",
            "at": _at(-40),
            "direction": "inbound",
            "caller": client.replace("+7", "8"),
            "callee": "+74951110000",
            "line": "+74951110000",
            "extension": "101",
        }
        ended = {"call_id": call_id, "event": "ended", "at": _at(-20), "outcome": "missed", "extension": "101"}
        for body in (ended, started, ended):  # out of order, and one repeated
            assert (await _post(http, pbx, body)).status_code == 200
        back = f"out-{uuid.uuid4().hex[:6]}"
        await _post(
            http,
            pbx,
            {
                "call_id": back,
                "event": "started",
                "at": _at(),
                "direction": "outbound",
                "caller": "101",
                "callee": client,
                "extension": "101",
            },
        )
        await _post(
            http, pbx, {"call_id": back, "event": "ended", "at": _at(30), "outcome": "answered", "talk_seconds": 25}
        )
        calls = (await http.get("/v1/calls", params={"number": client})).json()["items"]
        missed = next(c for c in calls if c["provider_call_id"] == call_id)

        async def called_back():
            found = (await http.get(f"/v1/calls/{missed['call_id']}")).json()
            return found["callback"] and found["callback"]["status"] == "made" and found

        await eventually(called_back, timeout=60)
        detail = await called_back()
    assert (missed["direction"], missed["outcome"], missed["caller"], missed["campaign"], missed["manager_id"]) == (
        "inbound",
        "missed",
        client,
        "radio",
        hub.managers[0],
    )
    assert 15 <= detail["callback"]["delay_seconds"] <= 30
    records = await read_topic(
        hub.kafka,
        "crm.calls",
        until=lambda rs: any(
            headers_of(r)["ce_type"] == "call.callback_made" and r.key == missed["call_id"].encode() for r in rs
        ),
    )
    mine = [headers_of(r)["ce_type"] for r in records if r.key == missed["call_id"].encode()]
    assert mine == ["call.started", "call.missed", "call.callback_made"]  # the final outcome published once


async def test_no_call_back_in_the_window_is_overdue(phones):
    hub, server = phones
    async with httpx.AsyncClient(base_url=server.address, timeout=10, headers=admin_headers()) as http:
        call_id = f"late-{uuid.uuid4().hex[:6]}"
        await _post(
            http,
            f"fast-{hub.unique}",
            {
                "call_id": call_id,
                "event": "ended",
                "at": _at(),
                "direction": "inbound",
                "caller": phone(),
                "callee": "+74951110000",
                "outcome": "missed",
            },
        )
        listed = (await http.get("/v1/calls", params={"outcome": "missed"})).json()["items"]
        record = next(c for c in listed if c["provider_call_id"] == call_id)

        async def overdue():
            return ((await http.get(f"/v1/calls/{record['call_id']}")).json()["callback"] or {}).get(
                "status"
            ) == "overdue"

        await eventually(overdue, timeout=60)
        stats = (await http.get("/v1/stats/calls", params={"group_by": "line"})).json()
    records = await read_topic(
        hub.kafka,
        "crm.calls",
        until=lambda rs: any(
            headers_of(r)["ce_type"] == "call.callback_overdue" and r.key == record["call_id"].encode() for r in rs
        ),
    )
    overdue_event = next(
        json.loads(r.value)
        for r in records
        if headers_of(r)["ce_type"] == "call.callback_overdue" and r.key == record["call_id"].encode()
    )
    assert overdue_event["call"]["call_id"] == record["call_id"]
    assert sum(g["callbacks_overdue"] for g in stats["groups"]) >= 1


async def test_a_call_from_an_unknown_number_becomes_a_lead(phones):
    hub, server = phones
    client = phone()
    async with httpx.AsyncClient(base_url=server.address, timeout=10, headers=admin_headers()) as http:
        await _post(
            http,
            f"pbx-{hub.unique}",
            {
                "call_id": f"new-{uuid.uuid4().hex[:6]}",
                "event": "ended",
                "at": _at(),
                "direction": "inbound",
                "caller": client,
                "callee": "+74951110000",
                "line": "+74951110000",
                "outcome": "missed",
            },
        )
    async with hub.client() as leads:

        async def lead_for_caller():
            items = (await leads.get("/v1/leads", params={"source": hub.source("phone")})).json()["items"]
            return next((i for i in items if i["contact"]["phone"] == client), None)

        await eventually(lead_for_caller, timeout=60)
        lead = await lead_for_caller()
    assert lead["channel"] == "phone"
    assert lead["utm"]["campaign"] == "radio"
    assert lead["manager_id"] in hub.managers


async def test_bad_requests_store_nothing(phones, mongo_client):
    hub, server = phones
    calls = mongo_client[f"{hub.database}_telephony"]["calls"]
    before = await calls.count_documents({})
    body = {"call_id": "bad-1", "event": "started", "at": _at(), "caller": phone()}
    async with httpx.AsyncClient(base_url=server.address, timeout=10, headers=admin_headers()) as http:
        assert (await _post(http, f"pbx-{hub.unique}", body, key="wrong")).status_code == 401
        assert (await _post(http, "no-such-provider", body)).status_code == 404
        assert (await _post(http, f"fenced-{hub.unique}", body)).status_code == 403
        assert (
            await http.post(
                f"/v1/telephony/pbx-{hub.unique}/events",
                content=b"{",
                headers={"X-Api-Key": KEY, "Content-Type": "application/json"},
            )
        ).status_code == 400
        deep = await http.post(
            f"/v1/telephony/pbx-{hub.unique}/events",
            content=b"[" * 10_000 + b"]" * 10_000,
            headers={"X-Api-Key": KEY, "Content-Type": "application/json"},
        )
        assert deep.status_code == 400
        assert "nests deeper" in deep.text
        assert (await _post(http, f"pbx-{hub.unique}", {**body, "caller": {"$ne": 1}})).status_code == 422
        assert (
            await http.post(
                f"/v1/telephony/pbx-{hub.unique}/events", content=b"x" * 400_000, headers={"X-Api-Key": KEY}
            )
        ).status_code == 413
        hostile = [
            ({**body, "seq": 2**80}, "seq"),
            ({**body, "at": "9999-12-31T23:59:59-14:00"}, "at"),
            ({**body, "at": "0001-01-01T00:00:00+14:00"}, "at"),
            ({**body, "call_id": "bad\u0000id"}, "call_id"),
            ({**body, "caller": "+7\u0000916"}, "caller"),
        ]
        for hostile_body, field in hostile:
            refused = await _post(http, f"pbx-{hub.unique}", hostile_body)
            assert refused.status_code == 422, (field, refused.text)
            assert field in refused.text
        for query in ({"from": "9999-12-31T23:59:59-14:00"}, {"to": "0001-01-01T00:00:00+14:00"}):
            listed = await http.get("/v1/calls", params=query)
            assert listed.status_code == 422, listed.text
        weird = await _post(http, f"pbx-{hub.unique}", {**body, "call_id": "weird-1", "caller": "anonymous"})
        assert weird.status_code == 200  # an unparseable number is kept as given and flagged
        record = (await http.get(f"/v1/calls/{weird.json()['calls'][0]}")).json()["call"]
    assert (record["caller"], record["caller_valid"]) == ("anonymous", False)
    assert await calls.count_documents({}) == before + 1


async def test_an_end_whose_start_never_comes_is_published_once_it_settles(phones):
    hub, server = phones
    call_id = f"orphan-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=server.address, timeout=10, headers=admin_headers()) as http:
        stored = await _post(
            http, f"pbx-{hub.unique}", {"call_id": call_id, "event": "ended", "at": _at(-1), "outcome": "missed"}
        )
    key = stored.json()["calls"][0].encode()
    records = await read_topic(
        hub.kafka,
        "crm.calls",
        until=lambda rs: any(r.key == key and headers_of(r)["ce_type"] == "call.missed" for r in rs),
        timeout=20,
    )
    assert [headers_of(r)["ce_type"] for r in records if r.key == key] == ["call.started", "call.missed"]
