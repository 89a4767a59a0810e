"""`json`: the hub's canonical lead as a JSON object (docs/leads.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from leads.adapters.formats.common import Parsed, json_object, require_media_type

if TYPE_CHECKING:
    from leads.adapters.sources import Source


def parse(body: bytes, content_type: str, source: Source) -> Parsed:
    require_media_type(content_type, "application/json")
    fields = json_object(body)
    honeypot = fields.pop(source.honeypot_field, None) if source.honeypot_field else None
    return Parsed(fields=fields, honeypot=honeypot)
