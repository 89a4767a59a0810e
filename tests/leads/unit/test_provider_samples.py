"""Lead formats against the providers' own documentation samples (the source of each is named);
what an integrator pointing that provider at the hub would see."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from crmhub.intake import IntakeError, Received
from leads.adapters.auth import verify
from leads.service_layer.intake import without_secrets
from support.lead_formats import FORM, JSON, parse, source

# developer.typeform.com/responses/webhooks, "Example webhook payload": fields nobody named get
# auto-generated refs (UUIDs); the question's title is in definition.fields.
TYPEFORM = {
    "event_id": "LtWXD3crgy",
    "event_type": "form_response",
    "form_response": {
        "form_id": "lT4Z3j",
        "token": "a3a12ec67a1365927098a606107fac15",
        "submitted_at": "2026-11-26T12:00:00Z",
        "definition": {
            "id": "lT4Z3j",
            "title": "Webhooks example",
            "fields": [
                {
                    "id": "SBNAcbeyl4ol",
                    "title": "What's your **name**?",
                    "type": "short_text",
                    "ref": "01FKQZ2EAS5XW8A0BJ3SYG2PDE",
                },
                {
                    "id": "DlXFaesGBpoF",
                    "title": "Thanks, {{field:01FK}}! Your phone number?",
                    "type": "phone_number",
                    "ref": "3f1b7c1e-7d27-4b5c-9f0b-0ff0c3d1a111",
                },
                {
                    "id": "k6TP9oLGgHjl",
                    "title": "Anything we should know?",
                    "type": "long_text",
                    "ref": "5c5e1b32-1b4c-4d7f-8a3b-6a4f0d6b2c22",
                },
                {
                    "id": "PNe8ZKBK8C2Q",
                    "title": "How many rooms?",
                    "type": "number",
                    "ref": "9d8e7f6a-5b4c-4d3e-8f2a-1b0c9d8e7f33",
                },
            ],
        },
        "answers": [
            {
                "type": "text",
                "text": "Laura",
                "field": {"id": "SBNAcbeyl4ol", "type": "short_text", "ref": "01FKQZ2EAS5XW8A0BJ3SYG2PDE"},
            },
            {
                "type": "phone_number",
                "phone_number": "+79161234567",
                "field": {"id": "DlXFaesGBpoF", "type": "phone_number", "ref": "3f1b7c1e-7d27-4b5c-9f0b-0ff0c3d1a111"},
            },
            {
                "type": "text",
                "text": "Call after six",
                "field": {"id": "k6TP9oLGgHjl", "type": "long_text", "ref": "5c5e1b32-1b4c-4d7f-8a3b-6a4f0d6b2c22"},
            },
            {
                "type": "number",
                "number": 3,
                "field": {"id": "PNe8ZKBK8C2Q", "type": "number", "ref": "9d8e7f6a-5b4c-4d3e-8f2a-1b0c9d8e7f33"},
            },
        ],
    },
}


def test_typeform_auto_refs_go_by_the_question_not_by_uuid():
    _, lead = parse("typeform", json.dumps(TYPEFORM).encode(), JSON)
    assert (lead.name, lead.phone, lead.message) == ("Laura", "+79161234567", "Call after six")
    assert lead.custom == {"How many rooms?": 3, "typeform_form_id": "lT4Z3j"}


# amocrm.ru/developers/content/crm_platform/unsorted-api, "Добавление неразобранного типа sip"
AMO_SIP = {
    "source_name": "ОАО Коспромсервис",
    "source_uid": "a1fee7c0fc436088e64ba2e8822ba2b3",
    "created_at": 1764158400,
    "metadata": {
        "is_call_event_needed": True,
        "uniq": "a1fe231cc88e64ba2e8822ba2b3ewrw",
        "duration": 54,
        "service_code": "CkAvbEwPam6sad",
        "link": "https://example.com",
        "phone": 79161234567,
        "called_at": 1764158400,
        "from": "client",
    },
}


def test_amocrm_sip_unsorted_is_a_lead_from_the_callers_number():
    parsed, lead = parse("amocrm", json.dumps(AMO_SIP).encode(), JSON)
    assert lead.phone == "79161234567"
    assert (lead.custom["amocrm_call"], lead.custom["amocrm_call_duration"]) == ("1", "54")
    assert parsed.submission_key == "amocrm:a1fee7c0fc436088e64ba2e8822ba2b3"


def test_amocrm_forms_with_the_sdks_single_embedded_lead_keeps_product_and_price():
    body = {
        "source_uid": "f1",
        "source_name": "site",
        "metadata": {"form_id": "1", "form_name": "Заказ", "form_page": "https://shop.example/sofa"},
        "_embedded": {
            "lead": {"name": "Диван Честер", "price": 53000},
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
    _, lead = parse("amocrm", json.dumps(body).encode(), JSON)
    assert (lead.product, lead.custom["price"]) == ("Диван Честер", "53000")


@pytest.mark.parametrize("contacts", [5, "x", {"name": "a"}])
def test_amocrm_contacts_of_the_wrong_type_are_422_naming_the_field(contacts):
    body = {"source_uid": "f1", "_embedded": {"contacts": contacts}}
    with pytest.raises(IntakeError) as error:
        parse("amocrm", json.dumps(body).encode(), JSON)
    assert (error.value.status, error.value.field) == (422, "_embedded.contacts")


def test_tilda_key_in_the_body_authenticates_and_is_never_kept():
    # tilda.cc/help "Webhook": the API key may be sent "в теле запроса" under a name you choose
    secret = "k" * 16
    body = urlencode({"Name": "Ivan", "Phone": "+79161234567", "apikey": secret, "tranid": "1:2"}).encode()
    configured = source("tilda", auth={"secret": secret, "body_field": "apikey"})
    received = Received(
        method="POST", url="http://hub/v1/intake/s", headers={"content-type": FORM}, query={}, body=body
    )
    verify(configured, received, now=None)  # type: ignore[arg-type]
    parsed = without_secrets(parse("tilda", body, FORM)[0], configured)
    assert "apikey" not in parsed.fields.get("custom", {})
    assert secret not in json.dumps(parsed.fields)
    wrong = Received(
        method="POST",
        url="http://hub/v1/intake/s",
        headers={"content-type": FORM},
        query={},
        body=body.replace(secret.encode(), b"guess"),
    )
    with pytest.raises(IntakeError) as error:
        verify(configured, wrong, now=None)  # type: ignore[arg-type]
    assert error.value.status == 401


def test_a_secret_under_any_name_is_dropped_from_the_lead():
    secret = "k" * 16
    body = urlencode({"Name": "Ivan", "Phone": "+79161234567", "tilda_key": secret}).encode()
    parsed = without_secrets(parse("tilda", body, FORM)[0], source("tilda"))
    assert secret not in json.dumps(parsed.fields)
