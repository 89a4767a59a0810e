"""`bitrix24`: a `crm.lead.add`-style body, as sites and connectors built for Bitrix24 send it.

{"fields": {"TITLE", "NAME", "SECOND_NAME", "LAST_NAME", "PHONE": [{"VALUE", "VALUE_TYPE"}],
"EMAIL": [{"VALUE", "VALUE_TYPE"}], "COMMENTS", "SOURCE_ID", "SOURCE_DESCRIPTION",
"UTM_SOURCE" ... "UTM_TERM", "ADDRESS_CITY", "ORIGIN_ID", "UF_CRM_*"}, "params": {...}}
Multi-value PHONE / EMAIL lists keep the first usable value; the others are kept as custom fields.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmhub.intake import Received, invalid, json_object, require_media_type
from leads.adapters.formats.common import Parsed

if TYPE_CHECKING:
    from leads.adapters.sources import Source


def _values(entries: Any, field: str) -> list[str]:
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise invalid(f"fields.{field} must be a list of {{VALUE, VALUE_TYPE}} objects")
    values = []
    for entry in entries[:20]:
        if not isinstance(entry, dict) or not isinstance(entry.get("VALUE"), str):
            raise invalid(f"fields.{field}: every entry needs a string VALUE")
        if entry["VALUE"].strip():
            values.append(entry["VALUE"].strip())
    return values


def parse(source: Source, received: Received) -> Parsed:
    require_media_type(received, "application/json")
    payload = json_object(received.body)
    raw = payload.get("fields")
    if not isinstance(raw, dict):
        raise invalid("fields: a crm.lead.add body needs a `fields` object")
    text = {k: v for k, v in raw.items() if isinstance(v, str)}
    name = " ".join(p for p in (text.get("NAME"), text.get("SECOND_NAME"), text.get("LAST_NAME")) if p) or None
    phones = _values(raw.get("PHONE"), "PHONE")
    emails = _values(raw.get("EMAIL"), "EMAIL")
    fields: dict[str, Any] = {
        "name": name,
        "phone": phones[0] if phones else None,
        "email": emails[0] if emails else None,
        "message": text.get("COMMENTS") or None,
        "region": text.get("ADDRESS_REGION") or text.get("ADDRESS_CITY") or None,
        "utm": {
            part: text.get(f"UTM_{part.upper()}") or None
            for part in ("source", "medium", "campaign", "content", "term")
        },
    }
    custom: dict[str, Any] = {
        k: v for k, v in text.items() if k.startswith("UF_CRM_") or k in ("TITLE", "SOURCE_ID", "SOURCE_DESCRIPTION")
    }
    if len(phones) > 1:
        custom["other_phones"] = ", ".join(phones[1:])
    if len(emails) > 1:
        custom["other_emails"] = ", ".join(emails[1:])
    if custom:
        fields["custom"] = custom
    honeypot = raw.get(source.honeypot_field) if source.honeypot_field else None
    origin = text.get("ORIGIN_ID")
    return Parsed(fields=fields, submission_key=f"bitrix24:{origin}" if origin else None, honeypot=honeypot)
