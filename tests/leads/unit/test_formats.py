"""Each intake format, from the shapes its provider documents."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from crmhub.intake import IntakeError
from support.lead_formats import FORM, JSON, parse


def test_tilda_connection_probe_creates_nothing():
    parsed, _ = parse("tilda", b"test=test", FORM)
    assert parsed.probe


def test_tilda_fields_tranid_formid_and_utm():
    body = urlencode(
        {
            "Name": "Ирина",
            "Phone": "+7 (913) 000-11-22",
            "Email": "ira@example.com",
            "Textarea": "Перезвоните",
            "tranid": "4512345:6789012",
            "formid": "form123456",
            "utm_source": "vk",
            "utm_campaign": "autumn",
            "COOKIES": "_ym_uid=1; tildauid=2",
            "Square": "12",
        }
    ).encode()
    parsed, lead = parse("tilda", body, FORM)
    assert parsed.submission_key == "tilda:4512345:6789012"
    assert (lead.name, lead.phone, lead.email, lead.message) == (
        "Ирина",
        "+7 (913) 000-11-22",
        "ira@example.com",
        "Перезвоните",
    )
    assert lead.utm.source == "vk"
    assert lead.utm.campaign == "autumn"
    assert lead.custom == {"Square": "12", "tilda_formid": "form123456"}


def test_tilda_json_mode_and_honeypot():
    parsed, _ = parse(
        "tilda",
        json.dumps({"Name": "Bot", "Phone": "+79130001122", "website": "http://spam", "tranid": "1:2"}).encode(),
        JSON,
    )
    assert parsed.honeypot == "http://spam"


def test_plain_form_maps_russian_and_english_names_and_consent():
    body = urlencode(
        {
            "имя": "Олег",
            "телефон": "89120000000",
            "comment": "hi",
            "agree": "on",
            "utm_medium": "cpc",
            "color": "red",
            "website": "",
        }
    ).encode()
    parsed, lead = parse("form", body, FORM)
    assert (lead.name, lead.phone, lead.message, lead.consent, lead.utm.medium) == (
        "Олег",
        "89120000000",
        "hi",
        True,
        "cpc",
    )
    assert lead.custom == {"color": "red"}
    assert parsed.honeypot == ""


def test_form_field_map_renames_site_specific_fields():
    _, lead = parse(
        "form",
        urlencode({"client_phone": "+79120000000", "what": "Sofa"}).encode(),
        FORM,
        field_map={"client_phone": "phone", "what": "product"},
    )
    assert lead.phone == "+79120000000"
    assert lead.product == "Sofa"


def test_bitrix24_crm_lead_add_body():
    # the sample of github.com/bitrix24/b24restdocs api-reference/crm/leads/crm-lead-add.md, with
    # a usable mobile number after its unusable "555888" and our own fields added
    body = {
        "fields": {
            "TITLE": "Заявка с сайта",
            "NAME": "Глеб",
            "SECOND_NAME": "Егорович",
            "LAST_NAME": "Титов",
            "STATUS_ID": "NEW",
            "OPENED": "Y",
            "ASSIGNED_BY_ID": 1,
            "CURRENCY_ID": "USD",
            "OPPORTUNITY": 12500,
            "WEB": [{"VALUE": "www.mysite.com", "VALUE_TYPE": "WORK"}],
            "PHONE": [{"VALUE": "555888", "VALUE_TYPE": "WORK"}, {"VALUE": "+79001234567", "VALUE_TYPE": "MOBILE"}],
            "EMAIL": [{"VALUE": "gleb@example.com", "VALUE_TYPE": "WORK"}],
            "COMMENTS": "Хочу шкаф",
            "SOURCE_ID": "WEB",
            "UTM_SOURCE": "google",
            "UTM_CAMPAIGN": "brand",
            "ADDRESS_CITY": "Казань",
            "ORIGIN_ID": "site-42",
            "UF_CRM_SIZE": "2x3",
        },
        "params": {"REGISTER_SONET_EVENT": "Y"},
    }
    parsed, lead = parse("bitrix24", json.dumps(body).encode(), JSON)
    assert lead.name == "Глеб Егорович Титов"
    assert lead.phone == "+79001234567"  # the first usable number, not the first one
    assert lead.custom["other_phones"] == "555888"
    assert (lead.custom["opportunity"], lead.custom["currency"], lead.custom["web"]) == (
        "12500",
        "USD",
        "www.mysite.com",
    )
    assert lead.email == "gleb@example.com"
    assert lead.region == "Казань"
    assert lead.utm.source == "google"
    assert lead.custom["UF_CRM_SIZE"] == "2x3"
    assert lead.custom["TITLE"] == "Заявка с сайта"
    assert parsed.submission_key == "bitrix24:site-42"


@pytest.mark.parametrize(
    "body", [{"no_fields": {}}, {"fields": {"PHONE": "+7900"}}, {"fields": {"PHONE": [{"VALUE_TYPE": "WORK"}]}}]
)
def test_bitrix24_malformed_bodies_are_refused_naming_the_part(body):
    with pytest.raises(IntakeError, match="fields"):
        parse("bitrix24", json.dumps(body).encode(), JSON)


TYPEFORM = {
    "event_id": "01HXYZ",
    "event_type": "form_response",
    "form_response": {
        "form_id": "lT4Z3j",
        "token": "a3a12ec67a1365927098a606107fac15",
        "submitted_at": "2026-11-26T10:00:00Z",
        "hidden": {"utm_source": "newsletter", "utm_campaign": "winter", "manager_hint": "olga"},
        "definition": {"id": "lT4Z3j", "title": "Заявка", "fields": []},
        "answers": [
            {"type": "text", "text": "Лаура", "field": {"id": "JwWggjAKtOkA", "type": "short_text", "ref": "name"}},
            {
                "type": "email",
                "email": "laura@example.com",
                "field": {"id": "SMEUb7VJz92Q", "type": "email", "ref": "email_ref"},
            },
            {
                "type": "phone_number",
                "phone_number": "+79161234567",
                "field": {"id": "phone1", "type": "phone_number", "ref": "phone_ref"},
            },
            {
                "type": "choice",
                "choice": {"label": "Кухня"},
                "field": {"id": "k7", "type": "multiple_choice", "ref": "product"},
            },
            {"type": "boolean", "boolean": True, "field": {"id": "b1", "type": "yes_no", "ref": "callback"}},
            {"type": "number", "number": 3, "field": {"id": "n1", "type": "number", "ref": "rooms"}},
        ],
    },
}


def test_typeform_form_response_maps_answers_by_type_and_ref():
    parsed, lead = parse("typeform", json.dumps(TYPEFORM).encode(), JSON)
    assert parsed.submission_key == "typeform:a3a12ec67a1365927098a606107fac15"
    assert (lead.name, lead.email, lead.phone, lead.product) == ("Лаура", "laura@example.com", "+79161234567", "Кухня")
    assert lead.utm.campaign == "winter"
    assert lead.custom == {"callback": True, "rooms": 3, "hidden_manager_hint": "olga", "typeform_form_id": "lT4Z3j"}


def test_typeform_other_events_are_refused():
    with pytest.raises(IntakeError, match="form_response"):
        parse("typeform", json.dumps({"event_type": "form_deleted"}).encode(), JSON)


AMO = {
    "source_uid": "a1fee7c0fc436088e64ba2e8822ba2b3",
    "source_name": "Сайт",
    "created_at": 1700000000,
    "pipeline_id": 3166396,
    "metadata": {
        "form_id": "a1fe",
        "form_name": "Обратный звонок",
        "form_page": "https://example.com/kitchens",
        "ip": "203.0.113.5",
        "form_sent_at": 1700000000,
        "referer": "https://yandex.ru",
    },
    "_embedded": {
        "leads": [{"name": "Кухня на заказ", "price": 150000}],
        "contacts": [
            {
                "first_name": "Анна",
                "last_name": "Ли",
                "custom_fields_values": [
                    {"field_code": "PHONE", "values": [{"value": "+79035556677", "enum_code": "WORK"}]},
                    {"field_code": "EMAIL", "values": [{"value": "anna.li@example.com", "enum_code": "WORK"}]},
                ],
            }
        ],
    },
}


def test_amocrm_unsorted_lead_single_or_in_a_list():
    for body in (AMO, [AMO]):
        parsed, lead = parse("amocrm", json.dumps(body).encode(), JSON)
        assert parsed.submission_key == "amocrm:a1fee7c0fc436088e64ba2e8822ba2b3"
        assert (lead.name, lead.phone, lead.email, lead.product) == (
            "Анна Ли",
            "+79035556677",
            "anna.li@example.com",
            "Кухня на заказ",
        )
        assert lead.page_url == "https://example.com/kitchens"
        assert lead.custom["price"] == "150000"


def test_amocrm_needs_exactly_one_lead_with_a_contact():
    with pytest.raises(IntakeError, match="one unsorted lead"):
        parse("amocrm", json.dumps([AMO, AMO]).encode(), JSON)
    with pytest.raises(IntakeError, match="contact"):
        parse("amocrm", json.dumps({**AMO, "_embedded": {"leads": []}}).encode(), JSON)


@pytest.mark.parametrize(
    ("fmt", "body", "content_type", "status"),
    [
        ("json", b'{"phone": "+7', JSON, 400),
        ("json", b"phone=1", FORM, 415),
        ("json", b"[1]", JSON, 422),
        ("form", b"name=a&no-equals-sign", FORM, 400),
        ("form", b"\xff\xfe", FORM, 400),
        ("tilda", b"{}", "text/plain", 415),
        ("typeform", b"not json", JSON, 400),
    ],
)
def test_unreadable_bodies_get_the_right_status(fmt, body, content_type, status):
    with pytest.raises(IntakeError) as error:
        parse(fmt, body, content_type)
    assert error.value.status == status
