"""Telephony end to end: provider events over HTTP -> one record per call -> crm.calls; the
missed-call loop (call back made, or overdue); a call from an unknown number becomes a lead."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import httpx
import pytest

from crmhub.schemas.inbound import CallReported
from localservers import free_port, start_service
from support.fakes import Answer, FakeHttp
from support.hub import LeadsHub, phone
from support.kafka import eventually, headers_of, publish, read_topic
from support.tokens import admin_headers
from telephony.adapters.formats import mango, zadarma
from telephony.adapters.provider_api import zadarma_authorization

pytestmark = pytest.mark.integration
KEY = "telephony-key-0123456789"
MANGO_SALT = "mango-salt-0123456789"
ZADARMA_SECRET = "zadarma-secret-0123456789"


@pytest.fixture(scope="module")
def provider_api():
    """The providers' own APIs (Zadarma's, Mango's), faked at the HTTP level."""
    fake = FakeHttp().start()
    yield fake
    fake.stop()


@pytest.fixture(scope="module")
def phones(infra, tmp_path_factory, provider_api):
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
            {
                "id": f"mango-{hub.unique}",
                "format": "mango",
                "key": "mango-key",
                "secret": MANGO_SALT,
                "extensions": {"101": hub.managers[0], "102": hub.managers[1]},
                "api_url": f"{provider_api.url}/vpbx",
                "route_calls": True,
                "answer_standard_seconds": 1,
            },
            {
                "id": f"zadarma-{hub.unique}",
                "format": "zadarma",
                "key": "zadarma-key",
                "secret": ZADARMA_SECRET,
                "api_url": provider_api.url,
                "route_calls": True,
                "extensions": {"101": hub.managers[0], "102": hub.managers[1]},
            },
            {"id": f"b24-{hub.unique}", "format": "bitrix24", "secret": KEY, "users": {"17": hub.managers[1]}},
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


async def test_a_call_back_reported_before_the_missed_call_still_fulfils_it(phones):
    """Providers report calls late and out of order: the call back is stored (and listed under
    the number) before the missed call's obligation is opened, which then finds it."""
    hub, server = phones
    client, pbx = phone(), f"pbx-{hub.unique}"
    missed_id, back = f"in-{uuid.uuid4().hex[:6]}", f"out-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=server.address, timeout=10, headers=admin_headers()) as http:
        outbound = {"direction": "outbound", "caller": "101", "callee": client, "extension": "101"}
        await _post(http, pbx, {"call_id": back, "event": "started", "at": _at(-30), **outbound})
        await _post(
            http, pbx, {"call_id": back, "event": "ended", "at": _at(-10), "outcome": "answered", "talk_seconds": 20}
        )

        async def listed() -> bool:  # the call back is on Kafka, so under its number
            calls = (await http.get("/v1/calls", params={"number": client})).json()["items"]
            return any(c["provider_call_id"] == back and c["outcome"] == "answered" for c in calls)

        await eventually(listed, timeout=30)
        inbound = {"direction": "inbound", "caller": client, "callee": "+74951110000", "line": "+74951110000"}
        await _post(http, pbx, {"call_id": missed_id, "event": "started", "at": _at(-60), **inbound})
        await _post(http, pbx, {"call_id": missed_id, "event": "ended", "at": _at(-50), "outcome": "missed"})

        async def called_back():
            calls = (await http.get("/v1/calls", params={"number": client})).json()["items"]
            missed = next((c for c in calls if c["provider_call_id"] == missed_id), None)
            if missed is None:
                return None
            found = (await http.get(f"/v1/calls/{missed['call_id']}")).json()
            return found["callback"] and found["callback"]["status"] == "made" and found

        await eventually(called_back, timeout=60)
        detail = await called_back()
    assert 15 <= detail["callback"]["delay_seconds"] <= 25  # from the missed call's end to the call back


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


def _mango_form(payload: dict) -> dict[str, str]:
    body = json.dumps(payload)
    return {"vpbx_api_key": "mango-key", "sign": mango.sign("mango-key", body, MANGO_SALT), "json": body}


async def test_mango_posts_to_its_own_paths_and_every_notification_is_acknowledged(phones, provider_api):
    """Mango appends /events/<kind> to the URL set in its panel; anything not 2xx it retries."""
    hub, server = phones
    entry, client, now = f"MTIz{uuid.uuid4().hex[:8]}", phone(), int(datetime.now(UTC).timestamp())
    summary = {
        "entry_id": entry,
        "call_direction": 1,
        "from": {"number": client},
        "to": {"extension": 101, "number": "74951110000"},
        "line_number": "74951110000",
        "create_time": now - 60,
        "forward_time": now - 58,
        "talk_time": now - 50,
        "end_time": now,
        "entry_result": 1,
    }
    recording = {
        "entry_id": entry,
        "call_id": "c1",
        "recording_id": f"rec-{entry}",
        "recording_state": "Completed",
        "seq": 3,
        "timestamp": now,
    }
    dtmf = {"entry_id": entry, "call_id": "c1", "seq": 1, "dtmf": "2", "timestamp": now - 55, "location": "ivr"}
    base = f"/v1/telephony/mango-{hub.unique}"
    async with httpx.AsyncClient(base_url=server.address, timeout=10, headers=admin_headers()) as http:
        for path, payload in (
            ("/events/summary", summary),
            ("/events/events/dtmf", dtmf),
            ("/events/recording", recording),
            ("/events/sms", {"entry_id": entry}),
        ):
            response = await http.post(base + path, data=_mango_form(payload))
            assert response.status_code == 200, (path, response.text)
        calls = (await http.get("/v1/calls", params={"number": client})).json()["items"]
        (call,) = calls
        assert (call["outcome"], call["manager_id"], call["talk_seconds"]) == ("answered", hub.managers[0], 50)
        provider_api.script(
            "/vpbx/queries/recording/post/", Answer(302, {}, {"Location": "https://files.example/r.mp3"})
        )

        found = (await http.get(f"/v1/calls/{call['call_id']}")).json()["call"]
        assert found["recording_url"].endswith(f"/v1/calls/{call['call_id']}/recording")
        response = await http.get(f"/v1/calls/{call['call_id']}/recording", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (307, "https://files.example/r.mp3")
    (asked,) = provider_api.to("/vpbx/queries/recording/post/")
    form = dict(x.split("=", 1) for x in asked.body.decode().split("&"))
    assert form["vpbx_api_key"] == "mango-key"


async def test_zadarma_recording_link_is_fetched_through_its_signed_api(phones, provider_api):
    hub, server = phones
    pbx_call, client = f"in_{uuid.uuid4().hex[:8]}", phone()
    start = datetime.now(ZoneInfo("Europe/Moscow")).strftime("%Y-%m-%d %H:%M:%S")
    end = {
        "event": "NOTIFY_END",
        "pbx_call_id": pbx_call,
        "caller_id": client,
        "called_did": "74951110000",
        "call_start": start,
        "duration": "30",
        "disposition": "answered",
        "internal": "101",
        "is_recorded": "1",
        "call_id_with_rec": f"{pbx_call}.rec",
    }
    record = {"event": "NOTIFY_RECORD", "pbx_call_id": pbx_call, "call_id_with_rec": f"{pbx_call}.rec"}
    url = f"/v1/telephony/zadarma-{hub.unique}/events"
    provider_api.script(
        "/v1/pbx/record/request/",
        Answer(200, {"status": "success", "link": "https://z.example/1.mp3", "lifetime_till": "2026-12-01 00:00:00"}),
    )
    async with httpx.AsyncClient(base_url=server.address, timeout=10, headers=admin_headers()) as http:
        for fields, signed in (
            (end, ("caller_id", "called_did", "call_start")),
            (record, ("pbx_call_id", "call_id_with_rec")),
        ):
            signature = zadarma.sign(ZADARMA_SECRET, *(fields[f] for f in signed))
            response = await http.post(url, data=fields, headers={"Signature": signature})
            assert response.status_code == 200, response.text
        (call_id,) = response.json()["calls"]
        response = await http.get(f"/v1/calls/{call_id}/recording", follow_redirects=False)
    assert (response.status_code, response.headers["location"]) == (307, "https://z.example/1.mp3")
    (asked,) = provider_api.to(f"/v1/pbx/record/request/?call_id={pbx_call}.rec&format=json")
    expected = zadarma_authorization(
        "zadarma-key", ZADARMA_SECRET, "/v1/pbx/record/request/", {"call_id": f"{pbx_call}.rec", "format": "json"}
    )
    assert asked.headers["authorization"] == expected


async def test_bitrix24_register_gets_a_call_id_back_and_a_repeated_finish_changes_nothing(phones):
    hub, server = phones
    client = phone()
    register = {"USER_ID": 17, "PHONE_NUMBER": client, "TYPE": 2, "CRM_CREATE": 1, "LINE_NUMBER": "74952220000"}
    url = f"/v1/telephony/b24-{hub.unique}/events"
    async with httpx.AsyncClient(base_url=server.address, timeout=10, headers=admin_headers()) as http:
        answer = (await http.post(url, json=register, headers={"X-Api-Key": KEY})).json()
        bitrix_call = answer["result"]["CALL_ID"]
        finish = {"CALL_ID": bitrix_call, "USER_ID": 17, "DURATION": 42, "STATUS_CODE": "200"}
        first = await http.post(url, json=finish, headers={"X-Api-Key": KEY})
        (call_id,) = first.json()["calls"]
        before = (await http.get(f"/v1/calls/{call_id}")).json()["call"]
        await http.post(url, json=finish, headers={"X-Api-Key": KEY})
        after = (await http.get(f"/v1/calls/{call_id}")).json()["call"]
    assert before == after
    assert (after["outcome"], after["manager_id"], after["talk_seconds"]) == ("answered", hub.managers[1], 42)


async def test_a_pbx_asks_who_takes_the_call_and_the_next_one_after_three_rings(phones, provider_api):
    """Seed §2.12 over the wire: the plain JSON question, Zadarma's NOTIFY_START answer, and
    Mango, which the hub commands itself (commands/route now, the next one when nobody answered)."""
    hub, server = phones
    async with httpx.AsyncClient(base_url=server.address, timeout=10, headers=admin_headers()) as http:
        first = await http.post(
            f"/v1/telephony/pbx-{hub.unique}/route",
            json={"call_id": "r1", "caller": phone()},
            headers={"X-Api-Key": KEY},
        )
        again = await http.post(
            f"/v1/telephony/pbx-{hub.unique}/route",
            json={"call_id": "r1", "caller": phone()},
            headers={"X-Api-Key": KEY},
        )
        second = await http.post(
            f"/v1/telephony/pbx-{hub.unique}/route", json={"call_id": "r2"}, headers={"X-Api-Key": KEY}
        )
        refused = await http.post(
            f"/v1/telephony/pbx-{hub.unique}/route", json={"call_id": "r3"}, headers={"X-Api-Key": "guess"}
        )
        start = datetime.now(ZoneInfo("Europe/Moscow")).strftime("%Y-%m-%d %H:%M:%S")
        fields = {
            "event": "NOTIFY_START",
            "pbx_call_id": f"in_{uuid.uuid4().hex[:8]}",
            "caller_id": phone(),
            "called_did": "74951110000",
            "call_start": start,
        }
        signature = zadarma.sign(ZADARMA_SECRET, fields["caller_id"], fields["called_did"], fields["call_start"])
        zadarma_answer = await http.post(
            f"/v1/telephony/zadarma-{hub.unique}/events", data=fields, headers={"Signature": signature}
        )
        entry = f"MTIz{uuid.uuid4().hex[:8]}"
        appeared = {
            "entry_id": entry,
            "call_id": f"mango-call-{entry}",
            "timestamp": int(datetime.now(UTC).timestamp()),
            "seq": 1,
            "call_state": "Appeared",
            "location": "ivr",
            "from": {"number": phone()},
            "to": {"number": "74951110000", "line_number": "74951110000"},
        }
        mango_answer = await http.post(f"/v1/telephony/mango-{hub.unique}/events/call", data=_mango_form(appeared))

        async def both_routes():
            return len(provider_api.to("/vpbx/commands/route")) >= 2

        await eventually(both_routes, timeout=30)
    assert first.status_code == 200, first.text
    routed = first.json()
    assert {routed["manager_id"], routed["next_manager_id"]} == set(hub.managers[:2])
    assert routed["ring_seconds"] == 15
    assert again.json() == routed  # the PBX asked again about the same call
    assert second.json()["manager_id"] == routed["next_manager_id"]  # the rotation moved on
    assert refused.status_code == 401
    assert zadarma_answer.json()["redirect"] in ("101", "102")
    assert zadarma_answer.json()["return_timeout"] == 15
    assert mango_answer.status_code == 200
    routes = provider_api.to("/vpbx/commands/route")
    commands = [json.loads(parse_qs(seen.body.decode())["json"][0]) for seen in routes]
    mine = [c for c in commands if c["call_id"] == f"mango-call-{entry}"]
    assert [c["to_number"] for c in mine] in (["101", "102"], ["102", "101"])  # first, then the next after the rings


async def test_call_events_published_to_kafka_are_taken_in_like_the_webhook(phones):
    hub, server = phones
    pbx, client, call = f"pbx-{hub.unique}", phone(), f"k-{uuid.uuid4().hex[:6]}"
    started = {
        "call_id": call,
        "event": "started",
        "at": _at(-30),
        "direction": "inbound",
        "caller": client,
        "callee": "+74951110000",
        "line": "+74951110000",
        "extension": "101",
    }
    ended = {"call_id": call, "event": "ended", "at": _at(-5), "outcome": "answered", "talk_seconds": 20}
    await publish(hub.kafka, CallReported(provider_id=pbx, call=started), call)
    await publish(hub.kafka, CallReported(provider_id=pbx, call=ended), call)
    broken = await publish(hub.kafka, CallReported(provider_id=pbx, call={**ended, "outcome": "maybe"}), call)
    elsewhere = await publish(hub.kafka, CallReported(provider_id=f"mango-{hub.unique}", call=ended), call)
    await publish(hub.kafka, CallReported(provider_id=pbx, call={**ended, "talk_seconds": 21}), call)
    async with httpx.AsyncClient(base_url=server.address, timeout=10, headers=admin_headers()) as http:

        async def recorded():
            items = (await http.get("/v1/calls", params={"number": client})).json()["items"]
            return items and items[0]["talk_seconds"] == 21 and items[0]

        await eventually(recorded, timeout=30)
        record = await recorded()
    assert (record["outcome"], record["campaign"], record["manager_id"]) == ("answered", "radio", hub.managers[0])
    dead = await read_topic(
        hub.kafka, "crm.inbound.calls.dlq", until=lambda rs: {broken, elsewhere} <= {headers_of(r)["ce_id"] for r in rs}
    )
    reasons = {headers_of(r)["ce_id"]: headers_of(r)["dlq_error"] for r in dead}
    assert "outcome" in reasons[broken]
    assert "mango" in reasons[elsewhere]
