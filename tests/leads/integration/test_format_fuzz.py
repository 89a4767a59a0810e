"""Every lead format fuzzed over HTTP from an authenticated sender: documented samples mutated in
type, size and shape (tests/support/fuzz.py), correctly signed, sent to a running leads service.
Never a 5xx; and no partial write: every lead stored was named in a 2xx answer, and every
contact or submission claim points at a lead that exists (a refused request claims nothing)."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from pymongo import MongoClient

from crmhub.intake import sign_timestamped
from leads.adapters.auth import sign_typeform
from support.fuzz import as_form, as_json, mutated
from support.hub import SECRET, LeadsHub
from support.provider_samples import (
    AMO_UNSORTED,
    BITRIX_LEAD,
    CANONICAL_LEAD,
    CF7_PLUGIN,
    TILDA_FORM,
    TYPEFORM_RESPONSE,
)

pytestmark = pytest.mark.integration
EXAMPLES = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)


@pytest.fixture(scope="module")
def leads(infra, tmp_path_factory):
    hub = LeadsHub(infra.kafka, infra.mongo, tmp_path_factory.mktemp("fuzz-leads"), unlimited=True).start()
    state: dict[str, Any] = {"hub": hub, "accepted": set()}
    yield state
    hub.stop()
    database = MongoClient(infra.mongo)[f"{hub.database}_leads"]
    everything = {doc["_id"]: doc for doc in database["leads"].find({}, {"_id": 1, "channel": 1})}
    # calls other tests' telephony published on the shared broker become phone leads here too
    stored = {lead_id for lead_id, doc in everything.items() if doc.get("channel") != "phone"}
    assert stored <= state["accepted"], sorted(stored - state["accepted"])[:5]
    for claims in ("contact_claims", "submission_claims"):
        dangling = [doc["_id"] for doc in database[claims].find({}) if doc["lead_id"] not in everything]
        assert not dangling, (claims, dangling[:5])
    assert state["accepted"]  # some mutated samples were still good leads: the fuzzers got past the door


def _post(leads: dict[str, Any], path: str, **kwargs: Any) -> None:
    hub: LeadsHub = leads["hub"]
    assert hub.leads is not None
    response = httpx.post(f"{hub.leads.address}{path}", timeout=15, **kwargs)
    assert response.status_code < 500, (path, kwargs, response.text)
    if response.status_code == 202 and response.json().get("lead_id"):
        leads["accepted"].add(response.json()["lead_id"])
    if response.status_code == 303:  # a plain form goes on to its thank-you page, the lead id in the URL
        leads["accepted"].update(parse_qs(urlsplit(response.headers["location"]).query).get("lead_id", []))


@EXAMPLES
@given(body=mutated(CANONICAL_LEAD))
def test_canonical_json(leads, body):
    _post(
        leads,
        f"/v1/intake/{leads['hub'].source('site')}",
        content=as_json(body),
        headers={"Content-Type": "application/json", "X-Api-Key": SECRET},
    )


@EXAMPLES
@given(fields=mutated(TILDA_FORM, text_only=True))
def test_tilda(leads, fields):
    _post(
        leads,
        f"/v1/intake/{leads['hub'].source('tilda')}?api_key={SECRET}",
        content=urlencode(as_form(fields)),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


@EXAMPLES
@given(fields=mutated({"name": "Form", "phone": "+79161234567", "comment": "x"}, text_only=True))
def test_plain_form(leads, fields):
    _post(
        leads,
        f"/v1/intake/{leads['hub'].source('form')}?api_key={SECRET}",
        content=urlencode(as_form(fields)),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


@EXAMPLES
@given(body=mutated(BITRIX_LEAD))
def test_bitrix24(leads, body):
    raw = as_json(body)
    _post(
        leads,
        f"/v1/intake/{leads['hub'].source('b24')}",
        content=raw,
        headers={"Content-Type": "application/json", "X-Signature": sign_timestamped(SECRET, int(time.time()), raw)},
    )


@EXAMPLES
@given(body=mutated(TYPEFORM_RESPONSE))
def test_typeform(leads, body):
    raw = as_json(body)
    _post(
        leads,
        f"/v1/intake/{leads['hub'].source('tf')}",
        content=raw,
        headers={"Content-Type": "application/json", "Typeform-Signature": sign_typeform(SECRET, raw)},
    )


@EXAMPLES
@given(body=mutated(AMO_UNSORTED))
def test_amocrm(leads, body):
    _post(
        leads,
        f"/v1/intake/{leads['hub'].source('amo')}",
        content=as_json(body),
        headers={"Content-Type": "application/json", "X-Api-Key": SECRET},
    )


@EXAMPLES
@given(body=mutated(CF7_PLUGIN))
def test_contact_form_7(leads, body):
    _post(
        leads,
        f"/v1/intake/{leads['hub'].source('cf7')}",
        content=as_json(body),
        headers={"Content-Type": "application/json", "X-Api-Key": SECRET},
    )


@EXAMPLES
@given(
    fields=mutated(
        {"event": "ONCRMLEADADD", "event_handler_id": "707", "data[FIELDS][ID]": "1000983", "ts": "1764158400"},
        text_only=True,
    )
)
def test_bitrix24_outbound_events(leads, fields):
    form = {**fields, "auth[application_token]": SECRET}
    _post(
        leads,
        f"/v1/intake/{leads['hub'].source('b24ev')}",
        content=urlencode(as_form(form)),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
