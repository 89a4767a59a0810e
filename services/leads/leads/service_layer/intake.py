"""Taking in a submission: where "nothing lost, nothing twice" is decided.

`take_in` runs the checks in order, each answering before anything is stored: rate limits
(429 with Retry-After), authentication (401), the body's format (400/415/422), the canonical
fields (422 naming them), spam (discarded or 403). Then `receive`:
1. the lead id is derived from the submission (the provider's id, an Idempotency-Key, or the
   payload within a short window), so a retry finds what the first attempt stored;
2. the contact (phone, e-mail) is claimed with a unique key, so a second submission from the
   same person, even at the same instant, becomes a touch of the open lead, not a second lead;
3. the lead is assigned before it is stored and written with `lead.created` and
   `lead.assigned` in one insert: once the client has its 202 the lead exists, has its
   manager (or a timer to try again), and its events are on their way.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

from pydantic import ValidationError

from crmhub.aggregate import NotFound
from crmhub.intake import IntakeError, Received
from crmhub.schemas.calls import CallRecord
from leads import metrics
from leads.adapters.auth import verify
from leads.adapters.formats import FORMATS, Parsed
from leads.adapters.formats.bitrix24 import lead_fields
from leads.adapters.formats.canonical import LeadInput
from leads.adapters.sources import Source
from leads.domain.lead import Lead
from leads.domain.submission import Channel, InvalidSubmission, Submission, normalize, spam_reason
from leads.service_layer.context import Leads

log = logging.getLogger("leads.intake")

# A payload seen again within this window is the same submission (double click, blind retry).
REPEAT_WINDOW = timedelta(minutes=10)
# A contact claim whose lead does not exist yet may belong to a submission being stored right now.
CLAIM_GRACE = timedelta(seconds=10)

Outcome = Literal["created", "merged", "repeated", "discarded", "probe"]


@dataclass(frozen=True)
class Taken:
    lead_id: str | None
    outcome: Outcome


class Blocked(IntakeError):
    def __init__(self) -> None:
        super().__init__(403, "blocked", "this contact is blocked")


def submission_lead_id(source_id: str, key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"crmhub:lead:{source_id}:{key}"))


def source_for_api_key(deps: Leads, key: str) -> Source:
    """The `json` source whose API key this is (`POST /v1/leads`)."""
    candidates = [s for s in deps.sources.sources if s.format == "json" and s.auth.type == "api_key"]
    source = next((s for s in candidates if key and s.auth.resolved_secret() == key), None)
    if source is None:
        raise IntakeError(
            401, "unauthorized", "missing or unknown API key: send the key of a `json` source in X-Api-Key"
        )
    return source


def source_by_id(deps: Leads, source_id: str) -> Source:
    source = deps.sources.by_id(source_id)
    if source is None:
        raise IntakeError(404, "unknown_source", f"no intake source {source_id!r} is configured")
    return source


def without_secrets(parsed: Parsed, source: Source) -> Parsed:
    """A key sent in the body (Tilda can) is authentication, never lead data: the configured
    body field and any field whose value is the source's secret are dropped before anything is
    stored or published."""
    secret = source.auth.resolved_secret()
    custom = parsed.fields.get("custom")
    if not isinstance(custom, dict):
        return parsed
    named = (source.auth.body_field or "").lower()
    kept = {k: v for k, v in custom.items() if k.lower() != named and not (secret and v == secret)}
    if len(kept) == len(custom):
        return parsed
    fields = {**parsed.fields, "custom": kept} if kept else {k: v for k, v in parsed.fields.items() if k != "custom"}
    return replace(parsed, fields=fields)


async def take_in(deps: Leads, source: Source, received: Received) -> Taken:
    """An HTTP submission: rate limits, the sender's proof, its format, then `accept`."""
    try:
        deps.limits.check(source, received.client_ip or "unknown")
        now = deps.now()
        verify(source, received, now=now)
        parsed = without_secrets(FORMATS[source.format].parse(source, received), source)
        if parsed.probe:
            return Taken(None, "probe")
        if parsed.fetch is not None:  # the event names the lead: read it back from the sender
            fetched = lead_fields(source, await deps.bitrix24.lead(source, parsed.fetch))
            parsed = without_secrets(replace(fetched, submission_key=parsed.submission_key), source)
    except IntakeError as exc:
        _refused(source, exc)
        raise
    idempotency_key = received.headers.get("idempotency-key", "")[:200] or None
    return await accept(
        deps,
        source,
        parsed,
        channel="api" if source.format == "json" else "form",
        submission_key=f"idem:{idempotency_key}" if idempotency_key else parsed.submission_key,
        now=now,
    )


async def accept(
    deps: Leads, source: Source, parsed: Parsed, *, channel: Channel, submission_key: str | None, now: datetime
) -> Taken:
    """What every way in shares (HTTP, crm.inbound.leads): the canonical fields validated (422
    naming them), spam (discarded or 403), then `receive`."""
    try:
        try:
            submission = normalize(
                LeadInput.model_validate(parsed.fields),
                source_id=source.id,
                channel=channel,
                received_at=now,
                phone_region=source.phone_region,
                default_product=source.default_product,
                default_region=source.default_region,
                submission_key=submission_key,
            )
        except InvalidSubmission as exc:
            raise IntakeError(422, "validation_failed", str(exc), field=",".join(exc.fields)) from None
    except IntakeError as exc:
        _refused(source, exc)
        raise
    except ValidationError:
        metrics.LEADS_REFUSED.labels(source.id, "422").inc()
        raise
    spam = spam_reason(submission, honeypot_value=parsed.honeypot, blocklist=deps.blocklist)
    if spam is not None:
        metrics.LEADS_SPAM.labels(source.id, spam).inc()
        log.info(
            "spam from %s discarded (%s): %s", source.id, spam, submission.contact.phone or submission.contact.email
        )
        if spam == "honeypot":  # do not teach bots what gave them away
            return Taken(None, "discarded")
        raise Blocked()
    return await receive(deps, submission, source)


def _refused(source: Source, exc: IntakeError) -> None:
    if exc.status != 429:
        metrics.LEADS_REFUSED.labels(source.id, str(exc.status)).inc()
    if exc.status == 401:
        log.warning("intake refused for %s: %s", source.id, exc)


async def receive(deps: Leads, submission: Submission, source: Source, *, call: CallRecord | None = None) -> Taken:
    """A site submission, or an inbound call (`call`), becomes a lead, a touch of the
    person's open lead, or, when it was received before, nothing new."""
    now = submission.received_at
    call_id = call.call_id if call else None
    claimed = await _claim_submission(deps, submission, source.id, now)
    if isinstance(claimed, Taken):
        metrics.LEADS_RECEIVED.labels(source.id, "repeated").inc()
        return claimed
    claim_key, lead_id = claimed
    window = timedelta(hours=source.dedup_window_hours)
    match = await _match_contact(deps, submission, lead_id, window=window, now=now)
    if match is not None:
        target_id, matched_by = match
        if await _merge(deps, target_id, lead_id, submission, matched_by=matched_by, call_id=call_id):
            await deps.store.take_over_submission(claim_key, from_lead=lead_id, to_lead=target_id, now=now)
            await _claim_remaining(deps, target_id, submission, window=window, now=now)
            metrics.LEADS_RECEIVED.labels(source.id, "merged").inc()
            return Taken(target_id, "merged")

    lead = Lead.new(lead_id, submission, call_id=call_id)
    await _first_assignment(deps, lead, source, now, call)
    if not await deps.store.leads.add(lead):
        metrics.LEADS_RECEIVED.labels(source.id, "repeated").inc()
        return Taken(lead_id, "repeated")
    deps.assigner.change_load(lead.manager_id, +1)
    metrics.LEADS_RECEIVED.labels(source.id, "created").inc()
    log.info(
        "lead %s created from %s, %s",
        lead.id,
        source.id,
        f"assigned to {lead.manager_id}" if lead.manager_id else "waiting for a manager",
    )
    return Taken(lead_id, "created")


async def _first_assignment(deps: Leads, lead: Lead, source: Source, now: datetime, call: CallRecord | None) -> None:
    """A call somebody answered stays with them; anything else goes through the engine."""
    answered_by = (
        deps.directory.manager(call.manager_id) if call and call.manager_id and call.outcome == "answered" else None
    )
    if answered_by is not None and answered_by.active:
        lead.assign(
            manager_id=answered_by.id,
            department_id=answered_by.department_id,
            now=now,
            sla_deadline=None,
            reason="call_answered",
        )
        return
    await deps.assigner.assign(lead, source, now, reason="new_lead")


async def _claim_submission(
    deps: Leads, submission: Submission, source_id: str, now: datetime
) -> Taken | tuple[str, str]:
    """Decide whether this request is new: (claim key, new lead id), or the earlier outcome.

    With an explicit key (provider id, Idempotency-Key) the lead id derives from it, so a
    retry after a crash recreates the same lead. Without one, the payload's fingerprint is
    the key for REPEAT_WINDOW: the same payload later is a new submission (and then most
    likely a touch of the open lead, by its contact).
    """
    store = deps.store
    explicit = submission.submission_key is not None
    key = f"{source_id}:{submission.submission_key or 'payload:' + submission.fingerprint()}"
    lead_id = submission_lead_id(source_id, key) if explicit else str(uuid.uuid4())
    for _ in range(500):
        held = await store.claim_submission(key, lead_id, now)
        if held is None:
            return key, lead_id
        owner, since = held
        if not explicit and since < now - REPEAT_WINDOW:
            if await store.take_over_submission(key, from_lead=owner, to_lead=lead_id, now=now):
                return key, lead_id
            continue
        if await store.leads.get(owner) is not None:
            return Taken(owner, "repeated")
        if owner == lead_id:
            return key, lead_id  # our own earlier attempt died before storing the lead
        if deps.now() - since > CLAIM_GRACE:
            if await store.take_over_submission(key, from_lead=owner, to_lead=lead_id, now=now):
                return key, lead_id  # an attempt that died; this retry takes its place
            continue
        await asyncio.sleep(0.02)  # the same submission is being stored right now
    raise RuntimeError(f"submission {key} stayed claimed by a lead that never appeared")


async def _match_contact(
    deps: Leads, submission: Submission, lead_id: str, *, window: timedelta, now: datetime
) -> tuple[str, str] | None:
    """The open lead this person already has, claiming their contacts for `lead_id` otherwise."""
    store = deps.store
    for kind, value in (("phone", submission.contact.phone), ("email", submission.contact.email)):
        if not value:
            continue
        key = f"{kind}:{value}"
        for _ in range(200):
            owner, since = await store.claim_contact(key, lead_id, now)
            if owner == lead_id:
                break
            found = await store.leads.get(owner)
            if found is not None and found.is_open and found.created_at >= now - window:
                return owner, kind
            if found is None and now - since < CLAIM_GRACE:
                await asyncio.sleep(0.02)  # its first submission is being stored right now
                now = deps.now()
                continue
            if await store.take_over_contact(key, from_lead=owner, to_lead=lead_id, now=now):
                break
    return None


async def _claim_remaining(
    deps: Leads, lead_id: str, submission: Submission, *, window: timedelta, now: datetime
) -> None:
    """A touch may bring a contact the lead did not have (an e-mail besides the phone): claim it
    for the lead too, unless another open lead holds it."""
    store = deps.store
    for kind, value in (("phone", submission.contact.phone), ("email", submission.contact.email)):
        if not value:
            continue
        key = f"{kind}:{value}"
        owner, _ = await store.claim_contact(key, lead_id, now)
        if owner == lead_id:
            continue
        found = await store.leads.get(owner)
        if found is None or not found.is_open or found.created_at < now - window:
            await store.take_over_contact(key, from_lead=owner, to_lead=lead_id, now=now)


async def _merge(
    deps: Leads, target_id: str, touch_id: str, submission: Submission, *, matched_by: str, call_id: str | None
) -> bool:
    """Add the submission as a touch of the open lead; False when that lead is gone or closed."""
    merged = False

    def touch(lead: Lead) -> None:
        nonlocal merged
        merged = lead.is_open
        if merged:
            lead.add_touch(touch_id, submission, matched_by=matched_by, call_id=call_id)

    try:
        await deps.store.leads.change(target_id, touch)
    except NotFound:
        return False
    return merged
