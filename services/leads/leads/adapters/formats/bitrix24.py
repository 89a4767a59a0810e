"""`bitrix24`: a `crm.lead.add`-style body, as sites and connectors built for Bitrix24 send it.

{"fields": {"TITLE", "NAME", "SECOND_NAME", "LAST_NAME", "PHONE": [{"VALUE", "VALUE_TYPE"}],
"EMAIL": [{"VALUE", "VALUE_TYPE"}], "COMMENTS", "SOURCE_ID", "SOURCE_DESCRIPTION",
"UTM_SOURCE" ... "UTM_TERM", "ADDRESS_CITY", "ORIGIN_ID", "UF_CRM_*"}, "params": {...}}
Field names and the sample are Bitrix24's (github.com/bitrix24/b24restdocs,
api-reference/crm/leads/crm-lead-add.md). Multi-value PHONE / EMAIL / WEB lists: the first
*usable* phone and e-mail become the lead's contact (an unusable first entry does not hide a
valid second one); the others are kept as custom fields (`other_phones`, `other_emails`), as
are the web sites (`web`), the deal's amount (`OPPORTUNITY` → `opportunity`, with `CURRENCY_ID`
→ `currency`), TITLE, SOURCE_ID, SOURCE_DESCRIPTION and the UF_CRM_* fields.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from crmhub.contacts import normalize_email, normalize_phone
from crmhub.intake import Received, invalid, json_object, require_media_type
from leads.adapters.formats.common import Parsed

if TYPE_CHECKING:
    from leads.adapters.sources import Source


def _values(entries: Any, field: str) -> list[str]:
    if entries is None:
        return []
    if not isinstance(entries, list):
        raise invalid(f"fields.{field} must be a list of {{VALUE, VALUE_TYPE}} objects", field=f"fields.{field}")
    values = []
    for entry in entries[:20]:
        if not isinstance(entry, dict) or not isinstance(entry.get("VALUE"), str | int):
            raise invalid(f"fields.{field}: every entry needs a string VALUE", field=f"fields.{field}")
        if str(entry["VALUE"]).strip():
            values.append(str(entry["VALUE"]).strip())
    return values


def _usable_first(values: list[str], usable: Callable[[str], bool]) -> list[str]:
    """The values with the first usable one first (the order of the rest kept)."""
    first = next((v for v in values if usable(v)), None)
    return values if first is None else [first, *(v for v in values if v is not first)]


def _amount(value: Any) -> str | None:
    """OPPORTUNITY as Bitrix24 sends it (12500, "12500.00"), kept as text: a finite amount or nothing."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        amount = float(value)
    except (ValueError, OverflowError):
        return None
    return str(value).strip()[:32] if math.isfinite(amount) and abs(amount) < 1e15 else None


def parse(source: Source, received: Received) -> Parsed:
    require_media_type(received, "application/json")
    payload = json_object(received.body)
    raw = payload.get("fields")
    if not isinstance(raw, dict):
        raise invalid("fields: a crm.lead.add body needs a `fields` object")
    return lead_fields(source, raw)


def lead_fields(source: Source, raw: dict[str, Any], *, key_prefix: str = "bitrix24") -> Parsed:
    """A Bitrix24 lead's fields (crm.lead.add's `fields`, or crm.lead.get's `result`) as a submission."""
    text = {k: v for k, v in raw.items() if isinstance(v, str)}
    name = " ".join(p for p in (text.get("NAME"), text.get("SECOND_NAME"), text.get("LAST_NAME")) if p) or None
    phones = _usable_first(_values(raw.get("PHONE"), "PHONE"), lambda v: bool(normalize_phone(v, source.phone_region)))
    emails = _usable_first(_values(raw.get("EMAIL"), "EMAIL"), lambda v: bool(normalize_email(v)))
    webs = _values(raw.get("WEB"), "WEB")
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
    if webs:
        custom["web"] = ", ".join(webs)[:2000]
    opportunity = _amount(raw.get("OPPORTUNITY"))
    if opportunity is not None:
        custom["opportunity"] = opportunity
        currency = raw.get("CURRENCY_ID")
        if isinstance(currency, str) and currency.strip().isalpha() and len(currency.strip()) == 3:
            custom["currency"] = currency.strip().upper()
    if custom:
        fields["custom"] = custom
    honeypot = raw.get(source.honeypot_field) if source.honeypot_field else None
    origin = text.get("ORIGIN_ID")
    return Parsed(fields=fields, submission_key=f"{key_prefix}:{origin}" if origin else None, honeypot=honeypot)
