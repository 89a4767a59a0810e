"""Intake formats: each turns one provider's request body into the canonical lead.

Each implements `crmhub.intake.IntakeFormat`: `parse(source, received)` returns a `Parsed`; a
request that cannot be read raises `IntakeError` (a 4xx naming the problem). Validation of the
canonical fields happens after.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmhub.intake import IntakeFormat
from leads.adapters.formats import amocrm, bitrix24, bitrix24_events, canonical_json, cf7, form, tilda, typeform
from leads.adapters.formats.common import Parsed

if TYPE_CHECKING:
    from leads.adapters.sources import Source

FORMATS: dict[str, IntakeFormat[Source, Parsed]] = {
    "json": canonical_json,
    "form": form,
    "tilda": tilda,
    "bitrix24": bitrix24,
    "typeform": typeform,
    "amocrm": amocrm,
    "cf7": cf7,
    "bitrix24_events": bitrix24_events,
}

__all__ = ["FORMATS", "Parsed"]
