"""Every lead format fuzzed over HTTP from an authenticated sender: documented samples mutated in
type, size and shape (tests/support/fuzz.py), correctly signed, sent to a running leads service.
Never a 5xx; and no partial write: every lead stored was named in a 2xx answer, and every
contact or submission claim points at a lead that exists (a refused request claims nothing)."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from pymongo import MongoClient

from crmhub.intake import sign_timestamped
from leads.adapters.auth import sign_typeform
from support.fuzz import mutated
from support.hub import SECRET, LeadsHub

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
    stored = {doc["_id"] for doc in database["leads"].find({}, {"_id": 1})}
    assert stored <= state["accepted"], sorted(stored - state["accepted"])[:5]
    for claims in ("contact_claims", "submission_claims"):
        dangling = [doc["_id"] for doc in database[claims].find({}) if doc["lead_id"] not in stored]
        assert not dangling, (claims, dangling[:5])
    assert state["accepted"]  # some mutated samples were still good leads: the fuzzers got past the door


def _post(leads: dict[str, Any], path: str, **kwargs: Any) -> None:
    hub: LeadsHub = leads["hub"]
    assert hub.leads is not None
    response = httpx.post(f"{hub.leads.address}{path}", timeout=15, **kwargs)
    assert response.status_code < 500, (path, kwargs, response.text)
    if response.status_code == 202 and response.json().get("lead_id"):
        leads["accepted"].add(response.json()["lead_id"])


def _json(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True, default=str).encode()


def _form(value: dict[str, Any]) -> str:
    return urlencode({str(k): v if isinstance(v, str) else json.dumps(v, default=str) for k, v in value.items()})


CANONICAL = {
    "name": "Ольга",
    "phone": "+79161234567",
    "email": "olga@example.org",
    "message": "Перезвоните",
    "product": "Кухня",
    "region": "Москва",
    "page_url": "https://shop.example/kitchen",
    "utm": {"source": "yandex", "medium": "cpc", "campaign": "kitchen"},
    "consent": True,
    "custom": {"budget": "300000", "rooms": 3},
    "submission_id": "site-1",
}
TILDA = {
    "Name": "Ира",
    "Phone": "+79161234567",
    "Email": "ira@example.org",
    "tranid": "8800:555",
    "formid": "f1",
    "utm_source": "vk",
    "COOKIES": "_ym_uid=1",
}
BITRIX = {
    "fields": {
        "TITLE": "Заявка",
        "NAME": "Глеб",
        "LAST_NAME": "Титов",
        "OPPORTUNITY": 12500,
        "CURRENCY_ID": "RUB",
        "PHONE": [{"VALUE": "555888", "VALUE_TYPE": "WORK"}, {"VALUE": "+79001234567", "VALUE_TYPE": "MOBILE"}],
        "EMAIL": [{"VALUE": "gleb@example.com", "VALUE_TYPE": "WORK"}],
        "WEB": [{"VALUE": "www.mysite.com", "VALUE_TYPE": "WORK"}],
        "ORIGIN_ID": "b24-1",
    },
    "params": {"REGISTER_SONET_EVENT": "Y"},
}
TYPEFORM = {
    "event_id": "LtWXD3crgy",
    "event_type": "form_response",
    "form_response": {
        "form_id": "lT4Z3j",
        "token": "tok-1",
        "submitted_at": "2026-11-26T12:00:00Z",
        "hidden": {"utm_source": "google"},
        "definition": {
            "fields": [{"id": "a1", "title": "Your name?", "type": "short_text", "ref": "01FKQZ2EAS5XW8A0BJ3SYG2PDE"}]
        },
        "answers": [
            {"type": "text", "text": "Laura", "field": {"id": "a1", "type": "short_text"}},
            {
                "type": "phone_number",
                "phone_number": "+79161234567",
                "field": {"id": "a2", "type": "phone_number", "ref": "p"},
            },
        ],
    },
}
AMO = {
    "source_uid": "amo-1",
    "source_name": "site",
    "created_at": 1764158400,
    "metadata": {"form_id": "1", "form_name": "Заказ", "form_page": "https://shop.example", "phone": 79161234567},
    "_embedded": {
        "leads": [{"name": "Диван", "price": 53000}],
        "contacts": [
            {
                "name": "Анна",
                "custom_fields_values": [
                    {"field_code": "PHONE", "values": [{"value": "+79160000001", "enum_code": "WORK"}]}
                ],
            }
        ],
    },
}
CF7 = {
    "your-name": "Ольга",
    "your-email": "olga@example.org",
    "tel-214": "+79161234567",
    "your-subject": "Диван",
    "your-message": "Перезвоните",
    "checkbox-9": ["синий", "зелёный"],
    "acceptance-1": "1",
    "_wpcf7": "42",
}


@EXAMPLES
@given(body=mutated(CANONICAL))
def test_canonical_json(leads, body):
    _post(
        leads,
        f"/v1/intake/{leads['hub'].source('site')}",
        content=_json(body),
        headers={"Content-Type": "application/json", "X-Api-Key": SECRET},
    )


@EXAMPLES
@given(fields=mutated(TILDA, text_only=True))
def test_tilda(leads, fields):
    _post(
        leads,
        f"/v1/intake/{leads['hub'].source('tilda')}?api_key={SECRET}",
        content=_form(fields),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


@EXAMPLES
@given(fields=mutated({"name": "Form", "phone": "+79161234567", "comment": "x"}, text_only=True))
def test_plain_form(leads, fields):
    _post(
        leads,
        f"/v1/intake/{leads['hub'].source('form')}?api_key={SECRET}",
        content=_form(fields),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )


@EXAMPLES
@given(body=mutated(BITRIX))
def test_bitrix24(leads, body):
    raw = _json(body)
    _post(
        leads,
        f"/v1/intake/{leads['hub'].source('b24')}",
        content=raw,
        headers={"Content-Type": "application/json", "X-Signature": sign_timestamped(SECRET, int(time.time()), raw)},
    )


@EXAMPLES
@given(body=mutated(TYPEFORM))
def test_typeform(leads, body):
    raw = _json(body)
    _post(
        leads,
        f"/v1/intake/{leads['hub'].source('tf')}",
        content=raw,
        headers={"Content-Type": "application/json", "Typeform-Signature": sign_typeform(SECRET, raw)},
    )


@EXAMPLES
@given(body=mutated(AMO))
def test_amocrm(leads, body):
    _post(
        leads,
        f"/v1/intake/{leads['hub'].source('amo')}",
        content=_json(body),
        headers={"Content-Type": "application/json", "X-Api-Key": SECRET},
    )


@EXAMPLES
@given(body=mutated(CF7))
def test_contact_form_7(leads, body):
    _post(
        leads,
        f"/v1/intake/{leads['hub'].source('cf7')}",
        content=_json(body),
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
        content=_form(form),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
