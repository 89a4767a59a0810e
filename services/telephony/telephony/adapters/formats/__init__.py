"""Telephony formats: each verifies its provider's authentication and turns a request into call facts."""

from __future__ import annotations

from typing import Protocol

from crmhub.intake import IntakeFormat, Received
from telephony.adapters.formats import asterisk, bitrix24, canonical_json, freeswitch, mango, twilio, zadarma
from telephony.adapters.formats.common import Parsed
from telephony.adapters.providers import Provider


class ProviderFormat(IntakeFormat[Provider, Parsed], Protocol):
    """A telephony format also proves the request comes from the provider (its own signature scheme)."""

    def verify(self, config: Provider, received: Received, /) -> None: ...


FORMATS: dict[str, ProviderFormat] = {
    "json": canonical_json,
    "asterisk": asterisk,
    "freeswitch": freeswitch,
    "zadarma": zadarma,
    "mango": mango,
    "twilio": twilio,
    "bitrix24": bitrix24,
}

__all__ = ["FORMATS", "Parsed", "ProviderFormat"]
