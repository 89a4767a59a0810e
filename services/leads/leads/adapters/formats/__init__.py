"""Intake formats: each turns one provider's request body into the canonical lead.

`parse(body, content_type, source)` returns a `Parsed`; a body that cannot be read raises
`FormatError` (a 4xx naming the problem). Validation of the canonical fields happens after.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from leads.adapters.formats import amocrm, bitrix24, canonical_json, form, tilda, typeform
from leads.adapters.formats.common import FormatError, Parsed

if TYPE_CHECKING:
    from leads.adapters.sources import Source

PARSERS: dict[str, Callable[[bytes, str, Source], Parsed]] = {
    "json": canonical_json.parse,
    "form": form.parse,
    "tilda": tilda.parse,
    "bitrix24": bitrix24.parse,
    "typeform": typeform.parse,
    "amocrm": amocrm.parse,
}

__all__ = ["PARSERS", "FormatError", "Parsed"]
