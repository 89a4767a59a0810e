"""What every intake format shares: the result type, errors, and reading bodies safely."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

MAX_FIELDS = 200


@dataclass(frozen=True)
class Parsed:
    """A provider's submission in canonical shape (not validated yet)."""

    fields: dict[str, Any] = field(default_factory=dict)
    submission_key: str | None = None
    honeypot: Any = None
    probe: bool = False


class FormatError(ValueError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def require_media_type(content_type: str, *allowed: str) -> None:
    got = media_type(content_type)
    if got not in allowed:
        raise FormatError(415, "unsupported_media_type", f"expected {' or '.join(allowed)}, got {got or 'no Content-Type'!r}")


def obj(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one (for optional nested parts)."""
    return value if isinstance(value, dict) else {}


def json_value(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise FormatError(400, "malformed_json", "request body is not valid JSON") from None


def json_object(body: bytes) -> dict[str, Any]:
    value = json_value(body)
    if not isinstance(value, dict):
        raise FormatError(422, "validation_failed", "request body must be a JSON object")
    return value


def form_fields(body: bytes) -> dict[str, str]:
    """URL-encoded form fields; repeated fields are joined with ', '."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise FormatError(400, "malformed_form", f"request body is not a URL-encoded form: {exc}") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        fields[key] = f"{fields[key]}, {value}" if key in fields else value
    return fields


# Field names people give form inputs, in Russian and English, for the canonical fields.
ALIASES = {
    "name": ("name", "fio", "fullname", "full_name", "имя", "фио", "your-name"),
    "phone": ("phone", "tel", "telephone", "mobile", "телефон", "your-phone"),
    "email": ("email", "e-mail", "mail", "почта", "your-email"),
    "message": ("message", "comment", "comments", "text", "textarea", "question", "сообщение", "комментарий", "your-message"),
    "product": ("product", "service", "товар", "услуга"),
    "region": ("region", "city", "город", "регион"),
    "page_url": ("page_url", "page", "url", "referer", "referrer"),
    "consent": ("consent", "agree", "agreement", "согласие"),
    "submission_id": ("submission_id", "idempotency_key"),
}
UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
TRUTHY = {"1", "true", "yes", "on", "y", "да"}


def canonical_from_flat(flat: dict[str, Any], *, field_map: dict[str, str], drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """Map a flat {field: value} form onto the canonical lead; unknown fields become custom fields."""
    lookup = {alias: canonical for canonical, aliases in ALIASES.items() for alias in aliases}
    lookup |= {k.lower(): v for k, v in field_map.items()}
    result: dict[str, Any] = {}
    utm: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    for key, value in flat.items():
        lowered = key.strip().lower()
        if lowered in drop:
            continue
        if lowered in UTM:
            utm[lowered.removeprefix("utm_")] = value or None
        elif lowered in lookup and lookup[lowered] not in result:
            result[lookup[lowered]] = value
        else:
            custom[key] = value
    if "consent" in result:
        result["consent"] = str(result["consent"]).strip().lower() in TRUTHY
    result = {k: (v if v != "" else None) for k, v in result.items()}
    if utm:
        result["utm"] = utm
    if custom:
        result["custom"] = custom
    return result
