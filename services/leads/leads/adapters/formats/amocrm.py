"""`amocrm`: amoCRM / Kommo "unsorted" incoming leads (`/api/v4/leads/unsorted/forms` shape).

One object (or a list holding one): {"source_uid", "source_name", "created_at",
"metadata": {"form_id", "form_name", "form_page", "ip", "form_sent_at", "referer"},
"_embedded": {"leads": [{"name", "price"}], "contacts": [{"name", "first_name", "last_name",
"custom_fields_values": [{"field_code": "PHONE" | "EMAIL", "values": [{"value"}]}]}]}}
`source_uid` identifies the submission. The lead may come as `_embedded.leads` (a list, as the
API reference shows) or `_embedded.lead` (one object, as amoCRM's own PHP SDK serialises it):
its `name` is the product and `price` is kept.

The SIP shape (`/api/v4/leads/unsorted/sip`: a call — "metadata": {"uniq", "duration",
"service_code", "link", "phone", "called_at", "from"}) has the caller's number in
`metadata.phone` and may have no contact: it becomes a lead from that phone.
Sources: amocrm.ru/developers/content/crm_platform/unsorted-api (forms and sip examples).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmhub.intake import Received, invalid, json_value, require_media_type
from leads.adapters.formats.common import Parsed, obj

if TYPE_CHECKING:
    from leads.adapters.sources import Source


def _contact_values(contact: dict[str, Any], code: str) -> list[str]:
    values = []
    fields = contact.get("custom_fields_values")
    for field in fields if isinstance(fields, list) else []:
        listed = field.get("values") if isinstance(field, dict) and field.get("field_code") == code else None
        values += [
            str(v["value"])
            for v in (listed if isinstance(listed, list) else [])
            if isinstance(v, dict) and isinstance(v.get("value"), str | int) and not isinstance(v.get("value"), bool)
        ]
    return values


def _listed(embedded: dict[str, Any], name: str) -> list[Any]:
    value = embedded.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid(f"_embedded.{name} must be a list of objects", field=f"_embedded.{name}")
    return value


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
    contacts = [c for c in _listed(embedded, "contacts") if isinstance(c, dict)]
    leads = [lead for lead in _listed(embedded, "leads") if isinstance(lead, dict)]
    if isinstance(embedded.get("lead"), dict):
        leads.insert(0, embedded["lead"])
    metadata = obj(payload.get("metadata"))
    sip_phone = metadata.get("phone")
    if isinstance(sip_phone, bool) or not isinstance(sip_phone, str | int):
        sip_phone = None
    if not contacts and sip_phone is None:
        raise invalid("_embedded.contacts: an unsorted lead needs a contact (or, from a call, metadata.phone)")
    contact = contacts[0] if contacts else {}
    name = (
        contact.get("name")
        or " ".join(p for p in (contact.get("first_name"), contact.get("last_name")) if isinstance(p, str) and p)
        or None
    )
    phones = _contact_values(contact, "PHONE") or ([str(sip_phone)] if sip_phone is not None else [])
    emails = _contact_values(contact, "EMAIL")
    named = (
        ("amocrm_form_id", metadata.get("form_id")),
        ("amocrm_form_name", metadata.get("form_name")),
        ("amocrm_source_name", payload.get("source_name")),
    )
    custom = {k: str(v) for k, v in named if v}
    price = leads[0].get("price") if leads else None
    if isinstance(price, int | float | str) and not isinstance(price, bool) and str(price).strip():
        custom["price"] = str(price)[:32]
    if sip_phone is not None:
        custom["amocrm_call"] = "1"
        for name in ("duration", "called_at", "uniq", "link"):
            value = metadata.get(name)
            if isinstance(value, str | int) and not isinstance(value, bool):
                custom[f"amocrm_call_{name}"] = str(value)[:500]
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
