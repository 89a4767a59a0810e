"""Every telephony format fuzzed in process with many mutated documented samples, correctly
signed: a request is read into facts, or refused with an IntakeError (a 4xx naming the field);
and whatever facts come out merge into a call record without error. Any other exception would
be a 500. The HTTP fuzzers (integration) confirm it end to end."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

from hypothesis import given, settings
from hypothesis import strategies as st

from crmhub.intake import IntakeError, Received
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
from support.telephony import provider
from telephony.adapters.formats import FORMATS, mango, twilio, zadarma
from telephony.domain.call import merge
from telephony.service_layer.calls import record_maker

MANY = settings(max_examples=300, deadline=None)
SECRET = "s3cret-value-123"
URL = "https://hub.example/v1/telephony/p/events"


def _take(
    fmt: str,
    body: bytes,
    content_type: str,
    *,
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    method: str = "POST",
) -> None:
    config = provider(fmt, key="fuzz-key")
    received = Received(method, URL, {"content-type": content_type, **(headers or {})}, query or {}, body, "127.0.0.1")
    module = FORMATS[fmt]
    try:
        module.verify(config, received)
        parsed = module.parse(config, received)
    except IntakeError as exc:
        refused = exc.status
    else:
        refused = None
    if refused is not None:
        assert 400 <= refused < 500
        return
    by_call: dict[str, list[Any]] = {}
    for fact in parsed.facts:
        by_call.setdefault(fact.provider_call_id, []).append(fact)
    for call_id, facts in by_call.items():
        record_maker(config, call_id, "http://hub")(merge(facts))


KEYED = {"x-api-key": SECRET}


@MANY
@given(body=mutated(CANONICAL_CALL))
def test_json(body):
    _take("json", as_json(body), "application/json", headers=KEYED)


@MANY
@given(body=mutated(ASTERISK_OUTBOUND_BUSY), as_list=st.booleans())
def test_asterisk(body, as_list):
    _take("asterisk", as_json([body] if as_list else body), "application/json", headers=KEYED)


@MANY
@given(body=mutated(FS_JSON), as_form=st.booleans())
def test_freeswitch(body, as_form):
    basic = {"authorization": "Basic " + base64.b64encode(f"fuzz-key:{SECRET}".encode()).decode()}
    if as_form:
        _take(
            "freeswitch",
            urlencode({"cdr": as_json(body).decode()}).encode(),
            "application/x-www-form-urlencoded",
            headers=basic,
        )
    else:
        _take("freeswitch", as_json(body), "application/json", headers=basic)


@MANY
@given(fields=mutated(ZADARMA_END, text_only=True), event=st.sampled_from(sorted(zadarma.SIGNED_FIELDS)))
def test_zadarma(fields, event):
    fields = {**fields, "event": event}
    signature = zadarma.sign(SECRET, *(str(fields.get(f, "")) for f in zadarma.SIGNED_FIELDS[event]))
    _take(
        "zadarma",
        urlencode(as_form(fields)).encode(),
        "application/x-www-form-urlencoded",
        headers={"signature": signature},
    )


@MANY
@given(payload=mutated(MANGO_SUMMARY), kind=st.sampled_from(["summary", "call", "recording", "dtmf", ""]))
def test_mango(payload, kind):
    text = json.dumps(payload, allow_nan=True, default=str)
    form = {"vpbx_api_key": "fuzz-key", "sign": mango.sign("fuzz-key", text, SECRET), "json": text}
    _take("mango", urlencode(form).encode(), "application/x-www-form-urlencoded", query={"event": kind} if kind else {})


@MANY
@given(params=mutated(TWILIO_DONE, text_only=True), as_get=st.booleans())
def test_twilio(params, as_get):
    form = as_form(params)
    if as_get:
        url = f"{URL}?{urlencode(form)}"
        config = provider("twilio", key="fuzz-key")
        received = Received(
            "GET", url, {"x-twilio-signature": twilio.signature(SECRET, url, {})}, form, b"", "127.0.0.1"
        )
        try:
            FORMATS["twilio"].verify(config, received)
            FORMATS["twilio"].parse(config, received)
        except IntakeError:
            pass
        return
    _take(
        "twilio",
        urlencode(form).encode(),
        "application/x-www-form-urlencoded",
        headers={"x-twilio-signature": twilio.signature(SECRET, URL, form)},
    )


@MANY
@given(body=mutated({**BITRIX_REGISTER, "CALL_ID": "b24-fz", "STATUS_CODE": "200", "DURATION": 95}))
def test_bitrix24(body):
    _take("bitrix24", as_json(body), "application/json", headers=KEYED)


@MANY
@given(
    fields=mutated(
        BITRIX_CALL_START,
        text_only=True,
    )
)
def test_bitrix24_events(fields):
    form = {**as_form(fields), "auth[application_token]": SECRET}
    _take("bitrix24", urlencode(form).encode(), "application/x-www-form-urlencoded")
