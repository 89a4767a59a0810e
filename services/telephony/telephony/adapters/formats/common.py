"""What the telephony formats share: the result and readers of provider fields. Reading bodies,
errors and API keys are the shared intake kit's (crmhub.intake)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from crmhub import intake
from crmhub.intake import Received, invalid
from crmhub.moments import plausible
from telephony.adapters.providers import Provider
from telephony.domain.call import CallFact


@dataclass(frozen=True)
class Parsed:
    facts: list[CallFact] = field(default_factory=list)
    # A provider check that must be answered as it asks (Zadarma's zd_echo): (body, media type)
    reply: tuple[str, str] | None = None


MAX_SEQ = 2**62


def check_api_key(provider: Provider, received: Received) -> None:
    given = received.headers.get(provider.api_key_header.lower()) or (
        received.query.get(provider.api_key_query_param) if provider.api_key_query_param else None
    )
    intake.check_api_key(secret=provider.resolved_secret(), given=given, header=provider.api_key_header)


def field_of(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None or value == "":
        raise invalid(f"{name} is missing")
    if not isinstance(value, str | int):
        raise invalid(f"{name} must be a string")
    return str(value)


def local_time(value: str, provider: Provider, name: str) -> datetime:
    """A provider time: with an offset as given, without one in the provider's zone (Asterisk writes server-local times)."""
    try:
        moment = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    except ValueError:
        raise invalid(f"{name}: {value!r} is not a date and time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(provider.timezone))
    try:
        return plausible(moment).astimezone(UTC)
    except ValueError as exc:
        raise invalid(f"{name}: {value[:40]!r} {exc}") from None


def unix_time(value: Any, name: str) -> datetime:
    try:
        return plausible(datetime.fromtimestamp(float(value), UTC))
    except (TypeError, ValueError, OverflowError, OSError):
        raise invalid(f"{name}: {str(value)[:40]!r} is not a unix time between 1970 and 2200") from None


def sequence(value: Any, name: str = "seq") -> int:
    """A provider's event sequence number: a whole number that fits the database (0 … 2^62)."""
    try:
        number = int(value or 0)
    except (TypeError, ValueError):
        raise invalid(f"{name}: {str(value)[:40]!r} is not a whole number") from None
    if not 0 <= number <= MAX_SEQ:
        raise invalid(f"{name}: {number if number < 10**20 else 'a huge number'} is out of range (0 … 2^62)")
    return number
