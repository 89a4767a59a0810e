"""`amocrm`: amoCRM / Kommo "unsorted" incoming leads (`/api/v4/leads/unsorted/forms` shape).

One object (or a list holding one): {"source_uid", "source_name", "created_at",
"metadata": {"form_id", "form_name", "form_page", "ip", "form_sent_at", "referer"},
"_embedded": {"leads": [{"name", "price"}], "contacts": [{"name", "first_name", "last_name",
"custom_fields_values": [{"field_code": "PHONE" | "EMAIL", "values": [{"value"}]}]}]}}
`source_uid` identifies the submission.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmhub.intake import Received, invalid, json_value, require_media_type
from leads.adapters.formats.common import Parsed, obj

if TYPE_CHECKING:
    from leads.adapters.sources import Source


def _contact_values(contact: dict[str, Any], code: str) -> list[str]:
    values = []
    for field in contact.get("custom_fields_values") or []:
        if isinstance(field, dict) and field.get("field_code") == code:
            values += [
                v["value"] for v in field.get("values") or [] if isinstance(v, dict) and isinstance(v.get("value"), str)
            ]
    return values


def parse(source: Source, received: Received) -> Parsed:
    require_media_type(received, "application/json")
    payload = json_value(received.body)
    if isinstance(payload, list):
        if len(payload) != 1:
            raise invalid("send one unsorted lead per request")
        payload = payload[0]
    if not isinstance(payload, dict):
        raise invalid("request body must be an unsorted-lead object")
    embedded = obj(payload.get("_embedded"))
    contacts = [c for c in embedded.get("contacts") or [] if isinstance(c, dict)]
    leads = [lead for lead in embedded.get("leads") or [] if isinstance(lead, dict)]
    if not contacts:
        raise invalid("_embedded.contacts: an unsorted lead needs a contact")
    contact = contacts[0]
    metadata = obj(payload.get("metadata"))
    name = (
        contact.get("name")
        or " ".join(p for p in (contact.get("first_name"), contact.get("last_name")) if isinstance(p, str) and p)
        or None
    )
    phones = _contact_values(contact, "PHONE")
    emails = _contact_values(contact, "EMAIL")
    named = (
        ("amocrm_form_id", metadata.get("form_id")),
        ("amocrm_form_name", metadata.get("form_name")),
        ("amocrm_source_name", payload.get("source_name")),
    )
    custom = {k: str(v) for k, v in named if v}
    if leads and leads[0].get("price") is not None:
        custom["price"] = str(leads[0]["price"])
    fields: dict[str, Any] = {
        "name": name if isinstance(name, str) else None,
        "phone": phones[0] if phones else None,
        "email": emails[0] if emails else None,
        "product": leads[0].get("name") if leads and isinstance(leads[0].get("name"), str) else None,
        "page_url": metadata.get("form_page") if isinstance(metadata.get("form_page"), str) else None,
    }
    if custom:
        fields["custom"] = custom
    uid = payload.get("source_uid")
    return Parsed(fields=fields, submission_key=f"amocrm:{uid}" if isinstance(uid, str) and uid else None)
