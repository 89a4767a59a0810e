"""Every telephony format fuzzed over HTTP from an authenticated sender: documented samples
(tests/support/provider_samples.py), mutated in type, size and shape, correctly signed, sent to
a running telephony service. Never a 5xx; and nothing stored for a refused request (every call
the database holds was named in a 2xx answer)."""

from __future__ import annotations

import base64
import json
import sys
import uuid
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pymongo import MongoClient

from localservers import free_port, start_service
from support.fuzz import as_form, as_json, mutated
from support.provider_samples import (
    ASTERISK_OUTBOUND_BUSY,
    BITRIX_CALL_START,
    BITRIX_REGISTER,
    CANONICAL_CALL,
    FS_JSON,
    MANGO_SUMMARY,
    TWILIO_DONE,
    ZADARMA_END,
)
from telephony.adapters.formats import mango, twilio, zadarma

pytestmark = pytest.mark.integration
SECRET = "fuzz-secret-0123456789"
EXAMPLES = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@pytest.fixture(scope="module")
def telephony(infra, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("fuzz-telephony")
    unique = uuid.uuid4().hex[:8]
    providers = [
        {
            "id": fmt,
            "format": fmt,
            "secret": SECRET,
            "key": "fuzz-key",
            "extensions": {"101": "anna"},
            "public_url": None,
        }
        for fmt in ("json", "asterisk", "freeswitch", "zadarma", "mango", "twilio", "bitrix24")
    ]
    (workdir / "providers.json").write_text(json.dumps({"providers": providers}))
    database = f"t_fuzz_{unique}_telephony"
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
        "MONGODB_URL": infra.mongo,
        "TELEPHONY_MONGODB_DATABASE": database,
        "TELEPHONY_PROVIDERS_FILE": str(workdir / "providers.json"),
        "TELEPHONY_ENVIRONMENT": "test",
    }
    server = start_service(
        "telephony", env=env, port=free_port(), log_path=workdir / "telephony.log", python=sys.executable
    )
    state = {"server": server, "accepted": set(), "database": database, "infra": infra}
    yield state
    server.stop()
    stored = {doc["_id"] for doc in MongoClient(infra.mongo)[database]["calls"].find({}, {"_id": 1})}
    # no partial writes: whatever is stored was accepted with a 2xx; and some mutated samples were
    # still good calls, so the fuzzers reached past the door
    assert stored <= state["accepted"], sorted(stored - state["accepted"])[:5]
    assert state["accepted"]


Request = tuple[str, dict[str, Any]]  # (path, httpx request kwargs)


def _send(telephony: dict[str, Any], request: Request) -> None:
    path, kwargs = request
    response = httpx.post(f"{telephony['server'].address}{path}", timeout=10, **kwargs)
    assert response.status_code < 500, (path, kwargs, response.text)
    if response.status_code < 300:
        telephony["accepted"].update(response.json().get("calls", []))  # the hub's ids of the calls it stored


@EXAMPLES
@given(body=mutated(CANONICAL_CALL))
def test_json(telephony, body):
    _send(
        telephony,
        (
            "/v1/telephony/json/events",
            {"content": as_json(body), "headers": {"Content-Type": "application/json", "X-Api-Key": SECRET}},
        ),
    )


@EXAMPLES
@given(body=mutated(ASTERISK_OUTBOUND_BUSY), as_list=st.booleans())
def test_asterisk(telephony, body, as_list):
    payload = [body] if as_list else body
    _send(
        telephony,
        (
            "/v1/telephony/asterisk/events",
            {"content": as_json(payload), "headers": {"Content-Type": "application/json", "X-Api-Key": SECRET}},
        ),
    )


@EXAMPLES
@given(body=mutated(FS_JSON))
def test_freeswitch(telephony, body):
    credentials = base64.b64encode(f"fuzz-key:{SECRET}".encode()).decode()
    _send(
        telephony,
        (
            "/v1/telephony/freeswitch/events",
            {
                "content": as_json(body),
                "headers": {"Content-Type": "application/json", "Authorization": f"Basic {credentials}"},
            },
        ),
    )


@EXAMPLES
@given(fields=mutated(ZADARMA_END, text_only=True, keep=("event",)))
def test_zadarma(telephony, fields):
    signed = zadarma.SIGNED_FIELDS.get(str(fields.get("event")), ())
    signature = zadarma.sign(SECRET, *(str(fields.get(f, "")) for f in signed))
    _send(telephony, ("/v1/telephony/zadarma/events", {"data": as_form(fields), "headers": {"Signature": signature}}))


@EXAMPLES
@given(payload=mutated(MANGO_SUMMARY), kind=st.sampled_from(["summary", "call", "recording", "dtmf"]))
def test_mango(telephony, payload, kind):
    text = json.dumps(payload, allow_nan=True, default=str)
    form = {"vpbx_api_key": "fuzz-key", "sign": mango.sign("fuzz-key", text, SECRET), "json": text}
    _send(telephony, (f"/v1/telephony/mango/events/{kind}", {"data": form}))


@EXAMPLES
@given(params=mutated(TWILIO_DONE, text_only=True))
def test_twilio(telephony, params):
    form = as_form(params)
    url = f"{telephony['server'].address}/v1/telephony/twilio/events"
    _send(
        telephony,
        (
            "/v1/telephony/twilio/events",
            {"data": form, "headers": {"X-Twilio-Signature": twilio.signature(SECRET, url, form)}},
        ),
    )


@EXAMPLES
@given(body=mutated({**BITRIX_REGISTER, "CALL_ID": "b24-fz"}), finish=st.booleans())
def test_bitrix24(telephony, body, finish):
    payload = {**body, "STATUS_CODE": body.get("TYPE"), "DURATION": body.get("CRM_CREATE")} if finish else body
    _send(
        telephony,
        (
            "/v1/telephony/bitrix24/events",
            {"content": as_json(payload), "headers": {"Content-Type": "application/json", "X-Api-Key": SECRET}},
        ),
    )


@EXAMPLES
@given(
    fields=mutated(
        BITRIX_CALL_START,
        text_only=True,
    )
)
def test_bitrix24_events(telephony, fields):
    form = {**as_form(fields), "auth[application_token]": SECRET}
    _send(telephony, ("/v1/telephony/bitrix24/events", {"data": form}))
