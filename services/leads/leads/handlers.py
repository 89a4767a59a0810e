"""The leads service's use cases: one method each, dependencies given at construction.

Receiving a submission is where "nothing lost, nothing twice" is decided:
1. the lead id is derived from the submission (the provider's id, an Idempotency-Key, or the
   payload within a short window), so a retry finds what the first attempt stored;
2. the contact (phone, e-mail) is claimed with a unique key, so a second submission from the
   same person, even at the same instant, becomes a touch of the open lead, not a second lead;
3. the lead is assigned before it is stored and written with `lead.created` and
   `lead.assigned` in one insert: once the client has its 202 the lead exists, has its
   manager (or a time to try again), and its events are on their way.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from crmhub.events import CloudEvent, EventData
from crmhub.schemas.calls import CallCompleted, CallMissed, CallRecord
from crmhub.schemas.leads import LeadContact, RejectReason, Utm
from crmhub.team_directory import TeamDirectory
from crmhub.working_time import add_working_time
from leads import metrics
from leads.adapters.lead_store import LeadStore
from leads.adapters.sources import Source, SourcesConfig
from leads.domain.assignment import choose_pool, decide, members_of
from leads.domain.lead import Lead, LeadConflict
from leads.domain.submission import Submission

log = logging.getLogger("leads.handlers")

# A payload seen again within this window is the same submission (double click, blind retry).
REPEAT_WINDOW = timedelta(minutes=10)
# A contact claim whose lead does not exist yet may belong to a submission being stored right now.
CLAIM_GRACE = timedelta(seconds=10)
CONFLICT_RETRIES = 8


class LeadNotFound(Exception):
    pass


@dataclass(frozen=True)
class Received:
    lead_id: str
    outcome: Literal["created", "merged", "repeated"]


def submission_lead_id(source_id: str, key: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"crmhub:lead:{source_id}:{key}"))


class LeadHandlers:
    def __init__(
        self,
        *,
        store: LeadStore,
        directory: TeamDirectory,
        sources: SourcesConfig,
        phone_source_id: str = "phone",
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.directory = directory
        self.sources = sources
        self.phone_source_id = phone_source_id
        self.now = now
        self._pool_locks: dict[str, asyncio.Lock] = {}
        # The pools' cursors as this process last wrote them; re-read only when another
        # instance moved one (the version check in the store fails).
        self._cursors: dict[str, tuple[str | None, int]] = {}
        # Open leads per manager (capacity, least-loaded). Changed here as leads come and go and
        # re-counted from the leads periodically, which also takes in other instances' work.
        self.loads: dict[str, int] = {}

    async def recount_loads(self) -> None:
        self.loads = await self.store.open_leads_by_manager()

    def _change_load(self, manager_id: str | None, delta: int) -> None:
        if manager_id:
            self.loads[manager_id] = max(0, self.loads.get(manager_id, 0) + delta)

    def source_of(self, lead: Lead) -> Source | None:
        return self.sources.by_id(lead.source_id) or self.sources.by_id(self.phone_source_id)

    # --- intake ----------------------------------------------------------------------------------

    async def receive(self, submission: Submission, source: Source, *, call: CallRecord | None = None) -> Received:
        """A site submission, or an inbound call (`call`), becomes a lead, a touch of the
        person's open lead, or, when it was received before, nothing new."""
        now = submission.received_at
        call_id = call.call_id if call else None
        claimed = await self._claim_submission(submission, source.id, now)
        if isinstance(claimed, Received):
            metrics.LEADS_RECEIVED.labels(source.id, "repeated").inc()
            return claimed
        claim_key, lead_id = claimed
        window = timedelta(hours=source.dedup_window_hours)
        match = await self._match_contact(submission, lead_id, window=window, now=now)
        if match is not None:
            target_id, matched_by = match
            if await self._merge(target_id, lead_id, submission, matched_by=matched_by, call_id=call_id):
                await self.store.take_over_submission(claim_key, from_lead=lead_id, to_lead=target_id, now=now)
                await self._claim_remaining(target_id, submission, window=window, now=now)
                metrics.LEADS_RECEIVED.labels(source.id, "merged").inc()
                return Received(target_id, "merged")

        lead, events = Lead.new(lead_id, submission, call_id=call_id)
        events += await self._first_assignment(lead, source, now, call)
        if not await self.store.insert(lead, events):
            metrics.LEADS_RECEIVED.labels(source.id, "repeated").inc()
            return Received(lead_id, "repeated")
        self._change_load(lead.manager_id, +1)
        metrics.LEADS_RECEIVED.labels(source.id, "created").inc()
        log.info("lead %s created from %s, %s", lead.id, source.id, f"assigned to {lead.manager_id}" if lead.manager_id else "waiting for a manager")
        return Received(lead_id, "created")

    async def _first_assignment(self, lead: Lead, source: Source, now: datetime, call: CallRecord | None) -> list[CloudEvent]:
        """A call somebody answered stays with them; anything else goes through the engine."""
        answered_by = self.directory.manager(call.manager_id) if call and call.manager_id and call.outcome == "answered" else None
        if answered_by is not None and answered_by.active:
            return lead.assign(manager_id=answered_by.id, department_id=answered_by.department_id, now=now, sla_deadline=None, reason="call_answered")
        return await self._assign(lead, source, now, reason="new_lead")

    async def _claim_submission(self, submission: Submission, source_id: str, now: datetime) -> Received | tuple[str, str]:
        """Decide whether this request is new: (claim key, new lead id), or the earlier outcome.

        With an explicit key (provider id, Idempotency-Key) the lead id derives from it, so a
        retry after a crash recreates the same lead. Without one, the payload's fingerprint is
        the key for REPEAT_WINDOW: the same payload later is a new submission (and then most
        likely a touch of the open lead, by its contact).
        """
        explicit = submission.submission_key is not None
        key = f"{source_id}:{submission.submission_key or 'payload:' + submission.fingerprint()}"
        lead_id = submission_lead_id(source_id, key) if explicit else str(uuid.uuid4())
        for _ in range(500):
            held = await self.store.claim_submission(key, lead_id, now)
            if held is None:
                return key, lead_id
            owner, since = held
            if not explicit and since < now - REPEAT_WINDOW:
                if await self.store.take_over_submission(key, from_lead=owner, to_lead=lead_id, now=now):
                    return key, lead_id
                continue
            if await self.store.get(owner) is not None:
                return Received(owner, "repeated")
            if owner == lead_id:
                return key, lead_id  # our own earlier attempt died before storing the lead
            if self.now() - since > CLAIM_GRACE:
                if await self.store.take_over_submission(key, from_lead=owner, to_lead=lead_id, now=now):
                    return key, lead_id  # an attempt that died; this retry takes its place
                continue
            await asyncio.sleep(0.02)  # the same submission is being stored right now
        raise RuntimeError(f"submission {key} stayed claimed by a lead that never appeared")

    async def _match_contact(self, submission: Submission, lead_id: str, *, window: timedelta, now: datetime) -> tuple[str, str] | None:
        """The open lead this person already has, claiming their contacts for `lead_id` otherwise."""
        for kind, value in (("phone", submission.contact.phone), ("email", submission.contact.email)):
            if not value:
                continue
            key = f"{kind}:{value}"
            for _ in range(200):
                owner, since = await self.store.claim_contact(key, lead_id, now)
                if owner == lead_id:
                    break
                found = await self.store.get(owner)
                if found is not None and found[0].is_open and found[0].created_at >= now - window:
                    return owner, kind
                if found is None and now - since < CLAIM_GRACE:
                    await asyncio.sleep(0.02)  # its first submission is being stored right now
                    now = self.now()
                    continue
                if await self.store.take_over_contact(key, from_lead=owner, to_lead=lead_id, now=now):
                    break
        return None

    async def _claim_remaining(self, lead_id: str, submission: Submission, *, window: timedelta, now: datetime) -> None:
        """A touch may bring a contact the lead did not have (an e-mail besides the phone): claim it
        for the lead too, unless another open lead holds it."""
        for kind, value in (("phone", submission.contact.phone), ("email", submission.contact.email)):
            if not value:
                continue
            key = f"{kind}:{value}"
            owner, _ = await self.store.claim_contact(key, lead_id, now)
            if owner == lead_id:
                continue
            found = await self.store.get(owner)
            if found is None or not found[0].is_open or found[0].created_at < now - window:
                await self.store.take_over_contact(key, from_lead=owner, to_lead=lead_id, now=now)

    async def _merge(self, target_id: str, touch_id: str, submission: Submission, *, matched_by: str, call_id: str | None = None) -> bool:
        for _ in range(CONFLICT_RETRIES):
            found = await self.store.get(target_id)
            if found is None or not found[0].is_open:
                return False
            lead, version = found
            events = lead.add_touch(touch_id, submission, matched_by=matched_by, call_id=call_id)
            if not events or await self.store.save(lead, expected_version=version, events=events):
                return True
        raise RuntimeError(f"lead {target_id} kept changing while a touch was added")

    # --- assignment ----------------------------------------------------------------------------

    def _lock(self, key: str) -> asyncio.Lock:
        return self._pool_locks.setdefault(key, asyncio.Lock())

    async def _assign(self, lead: Lead, source: Source, now: datetime, *, reason: str, exclude: frozenset[str] = frozenset()) -> list[CloudEvent]:
        """Give the lead to a manager, advancing the pool's persisted cursor; or set when to retry."""
        assignment = source.assignment
        pool = choose_pool(
            assignment.rule_list(),
            assignment.pool.pool(),
            source_id=lead.source_id,
            product=lead.product,
            region=lead.region,
            campaign=lead.utm.campaign,
        )
        async with self._lock(pool.key):
            for _ in range(CONFLICT_RETRIES):
                if pool.key not in self._cursors:
                    self._cursors[pool.key] = await self.store.pool_cursor(pool.key)
                cursor, version = self._cursors[pool.key]
                members = members_of(pool, self.directory, self.loads)
                decision = decide(
                    pool,
                    members,
                    cursor=cursor,
                    now=now,
                    sla=timedelta(minutes=source.sla_minutes),
                    off_duty=assignment.off_duty,
                    directory=self.directory,
                    exclude=exclude,
                )
                if decision.manager_id is None or decision.department_id is None:
                    lead.wait_until(decision.retry_at or now + timedelta(minutes=1))
                    log.info("lead %s waits for a manager: %s", lead.id, decision.reason)
                    return []
                if decision.cursor != cursor:
                    if not await self.store.advance_pool(pool.key, expected_version=version, cursor=decision.cursor):
                        del self._cursors[pool.key]  # another instance assigned from this pool meanwhile
                        continue
                    self._cursors[pool.key] = (decision.cursor, version + 1)
                return lead.assign(
                    manager_id=decision.manager_id,
                    department_id=decision.department_id,
                    now=now,
                    sla_deadline=decision.sla_deadline,
                    reason=reason,  # type: ignore[arg-type]
                )
        raise RuntimeError(f"pool {pool.key} kept changing while a lead was assigned")

    async def assign_waiting(self) -> int:
        """Leads that found nobody on duty: try again once their retry time has come."""
        done = 0
        now = self.now()
        for lead, version in await self.store.due_for_assignment(now):
            source = self.source_of(lead)
            if source is None:
                continue
            events = await self._assign(lead, source, now, reason="shift_start")
            if await self.store.save(lead, expected_version=version, events=events) and lead.manager_id:
                self._change_load(lead.manager_id, +1)
                done += 1
        return done

    async def escalate_overdue(self) -> int:
        """Leads not taken within their SLA: tell the head, and give them to the next manager on duty."""
        done = 0
        now = self.now()
        for lead, version in await self.store.due_for_breach(now):
            source = self.source_of(lead)
            if source is None or lead.manager_id is None:
                continue
            previous = lead.manager_id
            department = self.directory.department(lead.department_id or "")
            events = lead.breach_sla(now=now, head_manager_id=department.head_manager_id if department else None)
            events += await self._assign(lead, source, now, reason="sla_escalation", exclude=frozenset({previous}))
            if lead.manager_id == previous:
                lead.sla_deadline = self._next_deadline(previous, department.timezone if department else "UTC", now, source)
                lead.assign_after = None
            if await self.store.save(lead, expected_version=version, events=events):
                done += 1
                metrics.SLA_BREACHES.labels(lead.source_id).inc()
                if lead.manager_id != previous:
                    self._change_load(previous, -1)
                    self._change_load(lead.manager_id, +1)
        return done

    def _next_deadline(self, manager_id: str, timezone: str, now: datetime, source: Source) -> datetime:
        manager = self.directory.manager(manager_id)
        sla = timedelta(minutes=source.sla_minutes)
        deadline = add_working_time(manager, timezone, now, sla) if manager else None
        return deadline or now + sla

    # --- the manager's actions ---------------------------------------------------------------------

    async def _change(self, lead_id: str, action: Callable[[Lead], list[CloudEvent]]) -> Lead:
        for _ in range(CONFLICT_RETRIES):
            found = await self.store.get(lead_id)
            if found is None:
                raise LeadNotFound(lead_id)
            lead, version = found
            events = action(lead)
            if not events or await self.store.save(lead, expected_version=version, events=events):
                return lead
        raise LeadConflict(f"lead {lead_id} is being changed concurrently; retry")

    async def take(self, lead_id: str, manager_id: str) -> Lead:
        now = self.now()
        lead = await self._change(lead_id, lambda lead: lead.take(manager_id, now=now))
        metrics.LEADS_TAKEN.labels(lead.source_id, "yes" if lead.taken_within_sla else "no").inc()
        return lead

    async def convert(self, lead_id: str, manager_id: str, comment: str | None) -> Lead:
        lead = await self._change(lead_id, lambda lead: lead.convert(manager_id=manager_id, now=self.now(), comment=comment))
        self._change_load(manager_id, -1)
        return lead

    async def reject(self, lead_id: str, reason: RejectReason, comment: str | None) -> Lead:
        was_active: list[str] = []

        def reject(lead: Lead) -> list[CloudEvent]:
            was_active[:] = [lead.manager_id] if lead.manager_id and lead.status in ("assigned", "in_work") else []
            return lead.reject(reason=reason, comment=comment, now=self.now())

        lead = await self._change(lead_id, reject)
        for manager_id in was_active:
            self._change_load(manager_id, -1)
        return lead

    # --- calls ---------------------------------------------------------------------------------------

    async def receive_call(self, event: CloudEvent, payload: EventData) -> None:
        """An inbound call from a number with no open lead becomes one; otherwise a touch of it."""
        if not isinstance(payload, CallCompleted | CallMissed):
            return
        call: CallRecord = payload.call
        if call.direction != "inbound" or not call.caller_valid or not call.caller.startswith("+"):
            return
        source = self.sources.by_id(self.phone_source_id)
        if source is None:
            log.warning("no source %r is configured: calls do not become leads", self.phone_source_id)
            return
        submission = Submission(
            source_id=source.id,
            channel="phone",
            contact=LeadContact(phone=call.caller),
            phone_raw=None,
            message=None,
            product=source.default_product,
            region=source.default_region,
            page_url=None,
            utm=Utm(source="phone", medium="call", campaign=call.campaign),
            consent=None,
            custom={k: v for k, v in (("line", call.line), ("call_outcome", call.outcome), ("call_id", call.call_id)) if v},
            submission_key=f"call:{call.call_id}",
            received_at=call.ended_at or call.started_at,
        )
        await self.receive(submission, source, call=call)
