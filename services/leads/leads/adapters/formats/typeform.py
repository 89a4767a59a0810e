"""`typeform`: Typeform's `form_response` webhook (signature checked by the source's auth).

{"event_id", "event_type": "form_response", "form_response": {"form_id", "token",
"submitted_at", "hidden": {...}, "definition": {"fields": [...]}, "answers": [{"type",
"<type>": value, "field": {"id", "type", "ref"}}]}}
An answer goes to a canonical field by its type (email, phone_number) or by its field `ref`
(name, message, product, region, or the source's field_map); the others become custom fields.
Hidden fields carry the UTM tags.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from crmhub.intake import Received, invalid, json_object, require_media_type
from leads.adapters.formats.common import ALIASES, Parsed, obj

if TYPE_CHECKING:
    from leads.adapters.sources import Source


def _answer_value(answer: dict[str, Any]) -> Any:
    kind = answer.get("type")
    value = answer.get(kind) if isinstance(kind, str) else None
    if kind == "choice" and isinstance(value, dict):
        return value.get("label")
    if kind == "choices" and isinstance(value, dict):
        return ", ".join(str(v) for v in value.get("labels", []))
    return value


def parse(source: Source, received: Received) -> Parsed:
    require_media_type(received, "application/json")
    payload = json_object(received.body)
    if payload.get("event_type") != "form_response":
        raise invalid(f"event_type: only form_response is taken in, got {payload.get('event_type')!r}")
    response = payload.get("form_response")
    if not isinstance(response, dict) or not isinstance(response.get("answers", []), list):
        raise invalid("form_response.answers: missing or not a list")
    by_ref = {alias: canonical for canonical, aliases in ALIASES.items() for alias in aliases} | {
        k.lower(): v for k, v in source.field_map.items()
    }
    fields: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for answer in response.get("answers", []):
        if not isinstance(answer, dict):
            raise invalid("form_response.answers: every answer must be an object")
        field = obj(answer.get("field"))
        ref = str(field.get("ref") or field.get("id") or "").lower()
        value = _answer_value(answer)
        if answer.get("type") == "email" and "email" not in fields:
            fields["email"] = value
        elif answer.get("type") == "phone_number" and "phone" not in fields:
            fields["phone"] = value
        elif ref in by_ref and by_ref[ref] not in fields:
            fields[by_ref[ref]] = value
        elif ref:
            custom[ref[:64]] = value if isinstance(value, str | int | float | bool) or value is None else str(value)
    hidden = obj(response.get("hidden"))
    utm = {k.removeprefix("utm_"): v for k, v in hidden.items() if k.startswith("utm_") and isinstance(v, str)}
    if utm:
        fields["utm"] = utm
    custom |= {f"hidden_{k}"[:64]: v for k, v in hidden.items() if not k.startswith("utm_") and isinstance(v, str)}
    if response.get("form_id"):
        custom["typeform_form_id"] = str(response["form_id"])
    if custom:
        fields["custom"] = custom
    token = response.get("token") or payload.get("event_id")
    honeypot = hidden.get(source.honeypot_field) if source.honeypot_field else None
    return Parsed(fields=fields, submission_key=f"typeform:{token}" if token else None, honeypot=honeypot)
