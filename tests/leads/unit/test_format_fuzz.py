"""Every lead format's parser and the canonical validation, fuzzed in process with many mutated
documented samples: a submission is either taken or refused with a 4xx naming the problem
(IntakeError, or the canonical model's ValidationError, which the API answers 422) — never any
other exception, which the API would answer 500. The HTTP fuzzers (integration) confirm it end to end."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

from hypothesis import given, settings
from pydantic import ValidationError

from crmhub.intake import IntakeError, Received
from leads.adapters.formats import FORMATS
from leads.adapters.formats.canonical import LeadInput
from leads.domain.submission import InvalidSubmission, normalize
from leads.service_layer.intake import without_secrets
from support.fuzz import as_form, as_json, mutated
from support.lead_formats import source
from support.provider_samples import (
    AMO_UNSORTED,
    BITRIX_LEAD,
    CANONICAL_LEAD,
    CF7_PLUGIN,
    TILDA_FORM,
    TYPEFORM_RESPONSE,
)

MANY = settings(max_examples=300, deadline=None)


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


@MANY
@given(body=mutated(CANONICAL_LEAD))
def test_canonical_json(body):
    _take("json", as_json(body), "application/json")


@MANY
@given(body=mutated(BITRIX_LEAD))
def test_bitrix24(body):
    _take("bitrix24", as_json(body), "application/json")


@MANY
@given(body=mutated(TYPEFORM_RESPONSE))
def test_typeform(body):
    _take("typeform", as_json(body), "application/json")


@MANY
@given(body=mutated(AMO_UNSORTED))
def test_amocrm(body):
    _take("amocrm", as_json(body), "application/json")


@MANY
@given(body=mutated(CF7_PLUGIN))
def test_contact_form_7(body):
    _take("cf7", as_json(body), "application/json")


@MANY
@given(fields=mutated(TILDA_FORM, text_only=True))
def test_tilda_and_forms(fields):
    for fmt in ("tilda", "form", "cf7"):
        _take(fmt, urlencode(as_form(fields)).encode(), "application/x-www-form-urlencoded")


@MANY
@given(fields=mutated({"event": "ONCRMLEADADD", "data[FIELDS][ID]": "1000983"}, text_only=True))
def test_bitrix24_events(fields):
    _take("bitrix24_events", urlencode(as_form(fields)).encode(), "application/x-www-form-urlencoded")
