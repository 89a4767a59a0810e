"""Every lead format's parser and the canonical validation, fuzzed in process with many mutated
documented samples: a submission is either taken or refused with a 4xx naming the problem
(IntakeError, or the canonical model's ValidationError, which the API answers 422) — never any
other exception, which the API would answer 500. The HTTP fuzzers (integration) confirm it end to end."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from hypothesis import given, settings
from pydantic import ValidationError

from crmhub.intake import IntakeError, Received
from leads.adapters.formats import FORMATS
from leads.adapters.formats.canonical import LeadInput
from leads.domain.submission import InvalidSubmission, normalize
from leads.service_layer.intake import without_secrets
from support.fuzz import mutated
from support.lead_formats import source

MANY = settings(max_examples=300, deadline=None)
CANONICAL = {
    "name": "Ольга",
    "phone": "+79161234567",
    "email": "olga@example.org",
    "message": "Перезвоните",
    "utm": {"source": "yandex"},
    "consent": True,
    "custom": {"budget": "300000", "rooms": 3},
    "submission_id": "site-1",
}
BITRIX = {
    "fields": {
        "NAME": "Глеб",
        "OPPORTUNITY": 12500,
        "CURRENCY_ID": "RUB",
        "PHONE": [{"VALUE": "555888", "VALUE_TYPE": "WORK"}, {"VALUE": "+79001234567"}],
        "EMAIL": [{"VALUE": "gleb@example.com"}],
        "WEB": [{"VALUE": "www.mysite.com"}],
        "ORIGIN_ID": "b24-1",
        "UF_CRM_SIZE": "2x3",
    }
}
TYPEFORM = {
    "event_type": "form_response",
    "form_response": {
        "token": "t",
        "hidden": {"utm_source": "g", "x": "y"},
        "definition": {"fields": [{"id": "a1", "title": "Your name?", "type": "short_text"}]},
        "answers": [
            {"type": "text", "text": "Laura", "field": {"id": "a1", "type": "short_text"}},
            {"type": "choice", "choice": {"label": "A"}, "field": {"id": "c", "ref": "c"}},
            {"type": "phone_number", "phone_number": "+79161234567", "field": {"id": "a2", "ref": "p"}},
        ],
    },
}
AMO = {
    "source_uid": "amo-1",
    "metadata": {"form_page": "https://shop.example", "phone": 79161234567},
    "_embedded": {
        "lead": {"name": "Диван", "price": 53000},
        "contacts": [
            {
                "name": "Анна",
                "custom_fields_values": [
                    {"field_code": "PHONE", "values": [{"value": "+79160000001"}]},
                    {"field_code": "EMAIL", "values": [{"value": "a@example.org"}]},
                ],
            }
        ],
    },
}
CF7 = {
    "your-name": "Ольга",
    "your-email": "olga@example.org",
    "tel-214": "+79161234567",
    "checkbox-9": ["синий", "зелёный"],
    "acceptance-1": "1",
    "_wpcf7": "42",
}
TILDA = {"Name": "Ира", "Phone": "+79161234567", "tranid": "8800:555", "formid": "f1", "utm_source": "vk"}


def _received(body: bytes, content_type: str) -> Received:
    return Received("POST", "http://hub/v1/intake/s", {"content-type": content_type}, {}, body, "127.0.0.1")


def _take(fmt: str, body: bytes, content_type: str) -> None:
    config = source(fmt)
    try:
        parsed = without_secrets(FORMATS[fmt].parse(config, _received(body, content_type)), config)
        if parsed.probe or parsed.fetch:
            return
        normalize(
            LeadInput.model_validate(parsed.fields),
            source_id=config.id,
            channel="form",
            received_at=datetime.now(UTC),
            phone_region="RU",
            default_product=None,
            default_region=None,
            submission_key=parsed.submission_key,
        )
    except (IntakeError, ValidationError, InvalidSubmission):
        return  # a 4xx naming the problem


def _json(value: Any) -> bytes:
    return json.dumps(value, allow_nan=True, default=str).encode()


def _form(value: dict[str, Any]) -> bytes:
    return urlencode(
        {str(k): v if isinstance(v, str) else json.dumps(v, default=str) for k, v in value.items()}
    ).encode()


@MANY
@given(body=mutated(CANONICAL))
def test_canonical_json(body):
    _take("json", _json(body), "application/json")


@MANY
@given(body=mutated(BITRIX))
def test_bitrix24(body):
    _take("bitrix24", _json(body), "application/json")


@MANY
@given(body=mutated(TYPEFORM))
def test_typeform(body):
    _take("typeform", _json(body), "application/json")


@MANY
@given(body=mutated(AMO))
def test_amocrm(body):
    _take("amocrm", _json(body), "application/json")


@MANY
@given(body=mutated(CF7))
def test_contact_form_7(body):
    _take("cf7", _json(body), "application/json")


@MANY
@given(fields=mutated(TILDA, text_only=True))
def test_tilda_and_forms(fields):
    for fmt in ("tilda", "form", "cf7"):
        _take(fmt, _form(fields), "application/x-www-form-urlencoded")


@MANY
@given(fields=mutated({"event": "ONCRMLEADADD", "data[FIELDS][ID]": "1000983"}, text_only=True))
def test_bitrix24_events(fields):
    _take("bitrix24_events", _form(fields), "application/x-www-form-urlencoded")
