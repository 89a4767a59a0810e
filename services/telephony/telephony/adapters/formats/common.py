"""What the telephony formats share: the result and readers of provider fields. Reading bodies,
errors and API keys are the shared intake kit's (crmhub.intake)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, overload
from zoneinfo import ZoneInfo

from crmhub import intake
from crmhub.intake import Received, invalid
from crmhub.moments import plausible
from crmhub.schemas.calls import Direction, Outcome
from telephony.adapters.providers import Provider
from telephony.domain.call import CallFact


@dataclass(frozen=True)
class RouteAsk:
    """The PBX asks who should answer a call that has just started."""

    call_id: str  # the provider's call id (the hub's call is keyed by it)
    caller: str | None
    line: str | None
    command_call_id: str | None = None  # Mango: the call_id its commands take


@dataclass(frozen=True)
class Parsed:
    facts: list[CallFact] = field(default_factory=list)
    # A provider check that must be answered as it asks (Zadarma's zd_echo): (body, media type)
    reply: tuple[str, str] | None = None
    # what the provider's own API would answer (Bitrix24's register returns the CALL_ID)
    result: dict[str, Any] | None = None
    # a call start the PBX wants routed (answered when the provider has `route_calls`)
    route: RouteAsk | None = None


MAX_SEQ = 2**62


def check_api_key(provider: Provider, received: Received) -> None:
    given = received.headers.get(provider.api_key_header.lower()) or (
        received.query.get(provider.api_key_query_param) if provider.api_key_query_param else None
    )
    intake.check_api_key(secret=provider.resolved_secret(), given=given, header=provider.api_key_header)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@overload
def text_of(data: Mapping[str, Any], name: str, *, required: Literal[True] = True, limit: int = 200) -> str: ...
@overload
def text_of(data: Mapping[str, Any], name: str, *, required: bool, limit: int = 200) -> str | None: ...
def text_of(data: Mapping[str, Any], name: str, *, required: bool = True, limit: int = 200) -> str | None:
    """A provider's text field: a string, or a whole number some providers send for ids and
    extensions; anything else (objects, lists, booleans, fractions, control characters) is a 422
    naming the field."""
    value = data.get(name)
    if isinstance(value, str):
        value = value.strip()
    if value is None or value == "":
        if required:
            raise invalid(f"{name} is missing", field=name)
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise invalid(f"{name} must be a string, not {type(value).__name__}", field=name)
    text = str(value)
    if len(text) > limit:
        raise invalid(f"{name} is longer than {limit} characters", field=name)
    if _CONTROL.search(text):
        raise invalid(f"{name} contains control characters", field=name)
    return text


def field_of(data: Mapping[str, Any], name: str) -> str:
    return text_of(data, name)


def seconds_of(data: Mapping[str, Any], name: str, *, limit: float = 7 * 86400) -> float:
    """A duration in seconds: a finite number from 0 to a week (no call lasts longer)."""
    value = data.get(name)
    if value is None or value == "":
        return 0.0
    try:
        seconds = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError, OverflowError):
        seconds = math.nan
    if not math.isfinite(seconds) or not 0 <= seconds <= limit:
        raise invalid(f"{name}: {str(value)[:40]!r} is not a number of seconds from 0 to {int(limit)}", field=name)
    return seconds


def local_time(value: str, provider: Provider, name: str) -> datetime:
    """A provider time: with an offset as given, without one in the provider's zone (Asterisk writes server-local times)."""
    try:
        moment = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    except ValueError:
        raise invalid(f"{name}: {value[:40]!r} is not a date and time", field=name) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(provider.timezone))
    try:
        return plausible(moment).astimezone(UTC)
    except ValueError as exc:
        raise invalid(f"{name}: {value[:40]!r} {exc}", field=name) from None


def unix_time(value: Any, name: str) -> datetime:
    try:
        return plausible(datetime.fromtimestamp(float(value), UTC))
    except (TypeError, ValueError, OverflowError, OSError):
        raise invalid(f"{name}: {str(value)[:40]!r} is not a unix time between 1970 and 2200", field=name) from None


def sequence(value: Any, name: str = "seq") -> int:
    """A provider's event sequence number: a whole number that fits the database (0 … 2^62)."""
    try:
        number = int(value or 0)
    except (TypeError, ValueError, OverflowError):
        raise invalid(f"{name}: {str(value)[:40]!r} is not a whole number", field=name) from None
    if not 0 <= number <= MAX_SEQ:
        raise invalid(
            f"{name}: {number if number < 10**20 else 'a huge number'} is out of range (0 … 2^62)", field=name
        )
    return number


def internal_peer(number: str | None, provider: Provider) -> bool:
    """An internal peer (a person's phone): in the extension map, or (without one) a short number."""
    if not number:
        return False
    if provider.extensions:
        return number in provider.extensions
    return number.isdigit() and len(number) <= provider.extension_digits


def _context_says(context: str | None, contexts: tuple[str, ...]) -> bool:
    return bool(context) and any(context == c or str(context).startswith(f"{c}-") for c in contexts)


def direction_of(
    provider: Provider, *, context: str | None, caller: str, callee: str, caller_peer: str | None
) -> Direction:
    """A PBX call's direction the way its dialplan says it (Asterisk, FreeSWITCH): the extension
    map first, then the dialplan context the call entered, then whether the calling channel is an
    internal peer (see docs/telephony.md)."""
    caller_internal, callee_internal = internal_peer(caller, provider), internal_peer(callee, provider)
    if provider.extensions and (caller_internal or callee_internal):
        return "internal" if caller_internal and callee_internal else "outbound" if caller_internal else "inbound"
    if _context_says(context, provider.outbound_contexts):
        return "internal" if callee_internal else "outbound"
    if _context_says(context, provider.inbound_contexts):
        return "inbound"
    if internal_peer(caller_peer, provider) or caller_internal:
        return "internal" if callee_internal else "outbound"
    return "inbound"


@dataclass(frozen=True)
class Cdr:
    """One call detail record as a PBX writes it at hangup (Asterisk, FreeSWITCH)."""

    call_id: str
    started: datetime
    ended: datetime
    direction: Direction
    caller: str
    callee: str
    line: str | None
    outcome: Outcome
    talk_seconds: float
    answered: datetime | None = None
    person: str | None = None  # the extension that answered (or made the call)
    rang: str | None = None  # the extension an inbound call rang
    recording_url: str | None = None


def cdr_facts(cdr: Cdr) -> list[CallFact]:
    facts = [
        CallFact(
            "started",
            cdr.call_id,
            cdr.started,
            direction=cdr.direction,
            caller=cdr.caller,
            callee=cdr.callee,
            line=cdr.line,
        ),
        CallFact(
            "ended",
            cdr.call_id,
            cdr.ended,
            outcome=cdr.outcome,
            talk_seconds=cdr.talk_seconds if cdr.outcome == "answered" else None,
            extension=cdr.person,
        ),
    ]
    if cdr.answered is not None:
        facts.append(CallFact("answered", cdr.call_id, cdr.answered, extension=cdr.person))
    if cdr.rang and cdr.direction == "inbound":
        facts.append(CallFact("redirected", cdr.call_id, cdr.started, redirect_to=cdr.rang))
    if cdr.recording_url:
        facts.append(CallFact("recording", cdr.call_id, cdr.ended, recording_url=cdr.recording_url))
    return facts
