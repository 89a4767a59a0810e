"""`typeform`: Typeform's `form_response` webhook (signature checked by the source's auth).

{"event_id", "event_type": "form_response", "form_response": {"form_id", "token",
"submitted_at", "hidden": {...}, "definition": {"fields": [...]}, "answers": [{"type",
"<type>": value, "field": {"id", "type", "ref"}}]}}
An answer goes to a canonical field (developer.typeform.com/responses/webhooks — "Example
webhook payload") by, in order: its type (email, phone_number); its field `ref` when the form's
author named it (name, message, product, region, or the source's field_map); the question's
title from `definition.fields` ("What's your name?", "Как вас зовут?" → name; a long_text
question → message). Typeform gives auto-generated refs (UUIDs, ULIDs) to fields nobody named, so the
other answers are kept as custom fields under their readable ref, else under the question's
title. Hidden fields carry the UTM tags.
"""

from __future__ import annotations

import re
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


# Typeform's generated refs: UUIDs on older forms, ULIDs (26 characters of Crockford base32) on newer ones
_UUID_LIKE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$|^[0-9a-hjkmnp-tv-z]{26}$")
_WORD = re.compile(r"[\w-]+")
# words in a question's title that say which canonical field it asks for
TITLE_WORDS = {
    "name": ("name", "имя", "зовут", "фио"),
    "message": ("message", "comment", "question", "сообщение", "комментарий", "вопрос"),
    "product": ("product", "service", "товар", "услуга"),
    "region": ("city", "region", "город", "регион"),
}


def _readable(text: str) -> str:
    return re.sub(r"[*_`]|\{\{[^}]*\}\}", "", text).strip()


def _by_title(title: str, field_type: Any) -> str | None:
    words = {w.lower() for w in _WORD.findall(title)}
    for canonical, hints in TITLE_WORDS.items():
        if words & set(hints) and not (canonical == "name" and words & {"company", "компании", "организации"}):
            return canonical
    return "message" if field_type == "long_text" else None


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
    definition = obj(response.get("definition")).get("fields")
    titles = {
        str(d.get("id")): _readable(str(d.get("title") or ""))
        for d in (definition if isinstance(definition, list) else [])
        if isinstance(d, dict) and d.get("id")
    }
    fields: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for answer in response.get("answers", []):
        if not isinstance(answer, dict):
            raise invalid("form_response.answers: every answer must be an object")
        field = obj(answer.get("field"))
        raw_ref = str(field.get("ref") or "")
        ref = "" if _UUID_LIKE.match(raw_ref.lower()) else raw_ref.lower()
        title = titles.get(str(field.get("id")), "")
        value = _answer_value(answer)
        by_title = _by_title(title, field.get("type")) if title else None
        if answer.get("type") == "email" and "email" not in fields:
            fields["email"] = value
        elif answer.get("type") == "phone_number" and "phone" not in fields:
            fields["phone"] = value
        elif ref in by_ref and by_ref[ref] not in fields:
            fields[by_ref[ref]] = value
        elif not ref and by_title and by_title not in fields and isinstance(value, str):
            fields[by_title] = value
        elif key := (ref or title or str(field.get("id") or "")).strip():
            custom[key[:64]] = value if isinstance(value, str | int | float | bool) or value is None else str(value)
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
