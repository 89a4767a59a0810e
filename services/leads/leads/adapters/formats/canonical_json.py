"""`json`: the hub's canonical lead as a JSON object (docs/leads.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmhub.intake import Received, json_object, require_media_type
from leads.adapters.formats.common import Parsed

if TYPE_CHECKING:
    from leads.adapters.sources import Source


def parse(source: Source, received: Received) -> Parsed:
    require_media_type(received, "application/json")
    fields = json_object(received.body)
    honeypot = fields.pop(source.honeypot_field, None) if source.honeypot_field else None
    return Parsed(fields=fields, honeypot=honeypot)
