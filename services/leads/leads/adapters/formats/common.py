"""What the lead intake formats share: the parsed result and the mapping of form fields onto the
canonical lead. Reading bodies and refusing them is the shared intake kit's (crmhub.intake)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Parsed:
    """A provider's submission in canonical shape (not validated yet)."""

    fields: dict[str, Any] = field(default_factory=dict)
    submission_key: str | None = None
    honeypot: Any = None
    probe: bool = False
    # the submission is read back from the sender by this id first (Bitrix24's ONCRMLEADADD)
    fetch: str | None = None


def obj(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one (for optional nested parts)."""
    return value if isinstance(value, dict) else {}


# Field names people give form inputs, in Russian and English, for the canonical fields.
ALIASES = {
    "name": ("name", "fio", "fullname", "full_name", "имя", "фио", "your-name"),
    "phone": ("phone", "tel", "telephone", "mobile", "телефон", "your-phone"),
    "email": ("email", "e-mail", "mail", "почта", "your-email"),
    "message": (
        "message",
        "comment",
        "comments",
        "text",
        "textarea",
        "question",
        "сообщение",
        "комментарий",
        "your-message",
    ),
    "product": ("product", "service", "товар", "услуга"),
    "region": ("region", "city", "город", "регион"),
    "page_url": ("page_url", "page", "url", "referer", "referrer"),
    "consent": ("consent", "agree", "agreement", "согласие"),
    "submission_id": ("submission_id", "idempotency_key"),
}
UTM = ("utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term")
TRUTHY = {"1", "true", "yes", "on", "y", "да"}


def canonical_from_flat(
    flat: dict[str, Any], *, field_map: dict[str, str], drop: tuple[str, ...] = ()
) -> dict[str, Any]:
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
