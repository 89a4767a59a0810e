"""Telephony formats: each verifies its provider's authentication and turns a request into call facts."""

from __future__ import annotations

from types import ModuleType

from telephony.adapters.formats import asterisk, bitrix24, canonical_json, mango, twilio, zadarma
from telephony.adapters.formats.common import Parsed, Received, Rejected

FORMATS: dict[str, ModuleType] = {"json": canonical_json, "asterisk": asterisk, "zadarma": zadarma, "mango": mango, "twilio": twilio, "bitrix24": bitrix24}

__all__ = ["FORMATS", "Parsed", "Received", "Rejected"]
