"""Provider requests become facts; each call's facts are merged into one record and stored with
the events that record now deserves, each published once: `call.started` when it is first heard
of, `call.completed` / `call.missed` when its outcome is final, `call.recording_ready` per
recording. A final call whose start (with the client's number) never comes is settled by a timer.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence

from crmhub.aggregate import NotFound
from crmhub.contacts import normalize_phone
from crmhub.intake import IntakeError, Received
from crmhub.schemas.calls import CallRecord
from crmhub.timers import NotYet, Timer
from telephony import metrics
from telephony.adapters.formats import FORMATS, Parsed
from telephony.adapters.providers import Provider
from telephony.domain.call import Call, CallFact, MergedCall, Numbers, to_record
from telephony.service_layer.context import Telephony


def call_id_for(provider_id: str, provider_call_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"crmhub:call:{provider_id}:{provider_call_id}"))


def provider_by_id(deps: Telephony, provider_id: str) -> Provider:
    provider = deps.providers.by_id(provider_id)
    if provider is None:
        raise IntakeError(404, "unknown_provider", f"no telephony provider {provider_id!r} is configured")
    return provider


def read_request(provider: Provider, received: Received) -> Parsed:
    """Check who sent it and read it; IntakeError (4xx) when it is refused."""
    if provider.allowed_ips and received.client_ip not in provider.allowed_ips:
        metrics.CALL_REFUSED.labels(provider.id, "403").inc()
        raise IntakeError(
            403, "forbidden", f"{received.client_ip} is not an allowed address for provider {provider.id}"
        )
    module = FORMATS[provider.format]
    try:
        module.verify(provider, received)
        return module.parse(provider, received)
    except IntakeError as exc:
        metrics.CALL_REFUSED.labels(provider.id, str(exc.status)).inc()
        raise


async def receive(deps: Telephony, provider: Provider, facts: Sequence[CallFact]) -> list[str]:
    by_call: dict[str, list[CallFact]] = defaultdict(list)
    for fact in facts:
        by_call[fact.provider_call_id].append(fact)
    return [await _apply(deps, provider, provider_call_id, new) for provider_call_id, new in by_call.items()]


async def _apply(deps: Telephony, provider: Provider, provider_call_id: str, new: list[CallFact]) -> str:
    call_id = call_id_for(provider.id, provider_call_id)
    changed = False

    def add(call: Call) -> None:
        nonlocal changed
        changed = call.add_facts(
            new,
            record_of=record_maker(provider, call_id, deps.public_url),
            now=deps.now(),
            settle_after=deps.settle_after,
        )

    await deps.store.calls.change(call_id, add, create=lambda: Call(id=call_id, provider_id=provider.id))
    metrics.CALL_EVENTS.labels(provider.id, "stored" if changed else "repeated").inc()
    return call_id


def record_maker(provider: Provider, call_id: str, public_url: str) -> Callable[[MergedCall], CallRecord]:
    """How this provider's raw numbers, lines and extensions become a call record."""

    def number(raw: str | None) -> tuple[str, bool]:
        """E.164 when it is a phone number; otherwise kept as given and flagged, never dropped."""
        if not raw:
            return "", False
        normalized = normalize_phone(raw, provider.phone_region)
        return (normalized, True) if normalized else (raw.strip()[:64], False)

    def record_of(merged: MergedCall) -> CallRecord:
        caller, caller_valid = number(merged.caller)
        callee, callee_valid = number(merged.callee)
        line = number(merged.line)[0] if merged.line else None
        line_config = provider.lines.get(merged.line or "") or provider.lines.get(line or "")
        return to_record(
            merged,
            call_id=call_id,
            provider_id=provider.id,
            numbers=Numbers(caller, callee, caller_valid, callee_valid),
            line=line,
            campaign=line_config.campaign if line_config else None,
            manager_id=provider.extensions.get(merged.extension or "") or provider.users.get(merged.user or ""),
            recording_link=f"{public_url}/v1/calls/{call_id}/recording",
        )

    return record_of


async def settle(deps: Telephony, timer: Timer) -> None:
    """A final call's start never came: publish its outcome with what is known."""

    def settle_call(call: Call) -> None:
        provider = deps.providers.by_id(call.provider_id)
        if provider is not None:
            call.settle(record_of=record_maker(provider, call.id, deps.public_url), now=deps.now())

    try:
        await deps.store.calls.change(timer.subject, settle_call)
    except NotFound:
        raise NotYet(timer.subject) from None
