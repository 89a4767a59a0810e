"""`form`: a plain HTML form posted as application/x-www-form-urlencoded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmhub.intake import Received, form_fields, require_media_type
from leads.adapters.formats.common import Parsed, canonical_from_flat

if TYPE_CHECKING:
    from leads.adapters.sources import Source


def parse(source: Source, received: Received) -> Parsed:
    require_media_type(received, "application/x-www-form-urlencoded")
    flat = form_fields(received.body)
    honeypot = flat.pop(source.honeypot_field, None) if source.honeypot_field else None
    fields = canonical_from_flat(flat, field_map=source.field_map)
    return Parsed(fields=fields, honeypot=honeypot)
