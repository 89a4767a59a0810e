"""The telephony service's use cases.

A provider request becomes facts; each call's facts are merged into one record and stored with
the events that record now deserves, published once each: `call.started` when it is first
heard of, `call.completed` / `call.missed` when its outcome is final, `call.recording_ready`
per recording. The missed-call loop runs on those events (consumed back from crm.calls), so
a crash between the call and its callback obligation cannot lose the obligation.
"""

from __future__ import annotations

import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from crmhub.contacts import normalize_phone
from crmhub.events import CloudEvent, EventData, new_event
from crmhub.schemas.calls import CallbackMade, CallbackOverdue, CallCompleted, CallMissed, CallRecord, CallRecordingReady, CallStarted
from crmhub.team_directory import TeamDirectory
from telephony import metrics
from telephony.adapters.call_store import CallStore, fact_document, fact_from
from telephony.adapters.providers import Provider, ProvidersConfig
from telephony.domain.call import CallFact, MergedCall, Numbers, merge, to_record
from telephony.domain.callbacks import calls_back, open_callback, record_callback

log = logging.getLogger("telephony.handlers")
SOURCE = "/crm/telephony"
RETRIES = 8
# A final call still missing its start (and so the client's number) is published after this.
SETTLE = timedelta(seconds=30)


def call_id_for(provider_id: str, provider_call_id: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"crmhub:call:{provider_id}:{provider_call_id}"))


class TelephonyHandlers:
    def __init__(
        self, *, store: CallStore, directory: TeamDirectory, providers: ProvidersConfig, now: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.store = store
        self.directory = directory
        self.providers = providers
        self.now = now

    # --- intake ---------------------------------------------------------------------------------

    async def receive(self, provider: Provider, facts: Sequence[CallFact]) -> list[str]:
        by_call: dict[str, list[CallFact]] = defaultdict(list)
        for fact in facts:
            by_call[fact.provider_call_id].append(fact)
        return [await self._apply(provider, provider_call_id, new) for provider_call_id, new in by_call.items()]

    async def _apply(self, provider: Provider, provider_call_id: str, new: list[CallFact]) -> str:
        call_id = call_id_for(provider.id, provider_call_id)
        for _ in range(RETRIES):
            found = await self.store.get_call(call_id)
            doc, version = found if found is not None else ({}, None)
            known = {f["fact_id"]: fact_from(f) for f in doc.get("facts", [])}
            added = {f.fact_id: f for f in new if f.fact_id not in known}
            if not added:
                metrics.CALL_EVENTS.labels(provider.id, "repeated").inc()
                return call_id  # every fact was received before: nothing changes
            facts = {**known, **added}
            merged = merge(facts.values())
            record = self._record(provider, call_id, merged)
            published = dict(doc.get("published") or {"started": False, "final": False, "recordings": []})
            events = self._due_events(record, merged, published)
            state = {
                "provider_id": provider.id,
                "facts": [fact_document(f) for f in facts.values()],
                "record": record.model_dump(mode="python"),
                "final": merged.is_final,
                "published": published,
            }
            if await self.store.save_call(call_id, state, events, version=version):
                metrics.CALL_EVENTS.labels(provider.id, "stored").inc()
                return call_id
        raise RuntimeError(f"call {call_id} kept changing while its events were stored")

    def _record(self, provider: Provider, call_id: str, merged: MergedCall) -> CallRecord:
        caller, caller_valid = self._number(provider, merged.caller)
        callee, callee_valid = self._number(provider, merged.callee)
        line = self._number(provider, merged.line)[0] if merged.line else None
        line_config = provider.lines.get(merged.line or "") or provider.lines.get(line or "")
        return to_record(
            merged,
            call_id=call_id,
            provider_id=provider.id,
            numbers=Numbers(caller, callee, caller_valid, callee_valid),
            line=line,
            campaign=line_config.campaign if line_config else None,
            manager_id=provider.extensions.get(merged.extension or ""),
        )

    @staticmethod
    def _number(provider: Provider, raw: str | None) -> tuple[str, bool]:
        """E.164 when it is a phone number; otherwise kept as given and flagged, never dropped."""
        if not raw:
            return "", False
        normalized = normalize_phone(raw, provider.phone_region)
        return (normalized, True) if normalized else (raw.strip()[:64], False)

    @staticmethod
    def _due_events(record: CallRecord, merged: MergedCall, published: dict[str, Any], *, settled: bool = False) -> list[CloudEvent]:
        """The events this record now deserves that were not published before.

        The final outcome waits until the client's number is known: providers may deliver a
        call's end before its start, and the outcome is published only once. A call whose start
        never comes is published anyway once it has settled (see `publish_settled`).
        """
        now = datetime.now(UTC)
        events: list[CloudEvent] = []

        def emit(data: EventData) -> None:
            events.append(new_event(data, source=SOURCE, subject=record.call_id, time=now))

        if not published["started"]:
            emit(CallStarted(call=record))
            published["started"] = True
        if merged.is_final and not published["final"] and (record.client_number or settled):
            missed = record.direction == "inbound" and record.outcome != "answered"
            emit(CallMissed(call=record) if missed else CallCompleted(call=record))
            published["final"] = True
        if merged.is_final and record.recording_url and record.recording_url not in published["recordings"]:
            emit(CallRecordingReady(call_id=record.call_id, recording_url=record.recording_url))
            published["recordings"] = [*published["recordings"], record.recording_url]
        return events

    async def publish_settled(self, settle: timedelta = SETTLE) -> int:
        """Final calls whose outcome still waits for the client's number: publish what is known."""
        done = 0
        for doc, version in await self.store.unpublished_final(self.now() - settle):
            provider = self.providers.by_id(doc["provider_id"])
            if provider is None:
                continue
            merged = merge(fact_from(f) for f in doc["facts"])
            record = self._record(provider, doc["_id"], merged)
            published = dict(doc["published"])
            events = self._due_events(record, merged, published, settled=True)
            if events and await self.store.save_call(doc["_id"], {"published": published}, events, version=version):
                done += 1
        return done

    # --- the missed-call loop ---------------------------------------------------------------------

    async def on_call_event(self, event: CloudEvent, payload: EventData) -> None:
        if isinstance(payload, CallMissed):
            await self._open_callback(payload.call)
        elif isinstance(payload, CallCompleted) and payload.call.direction == "outbound":
            await self._close_callbacks(payload.call)

    async def _open_callback(self, call: CallRecord) -> None:
        if not call.caller_valid:
            return
        provider = self.providers.by_id(call.provider_id)
        window = timedelta(minutes=provider.callback_window_minutes if provider else 30)
        manager = self.directory.manager(call.manager_id) if call.manager_id else None
        department = self.directory.department(manager.department_id) if manager else None
        callback = open_callback(call, window=window, manager=manager, timezone=department.timezone if department else None)
        if await self.store.save_callback(callback, [], version=None):
            metrics.CALLBACKS.labels("opened").inc()

    async def _close_callbacks(self, call: CallRecord) -> None:
        for callback, version, _ in await self.store.open_callbacks_for(call.callee):
            if not calls_back(callback, call):
                continue
            record_callback(callback, call)
            made = CallbackMade(
                missed_call_id=callback.missed_call_id,
                callback_call_id=call.call_id,
                number=callback.number,
                manager_id=call.manager_id,
                delay_seconds=callback.delay_seconds or 0.0,
            )
            event = new_event(made, source=SOURCE, subject=callback.missed_call_id, time=self.now())
            if await self.store.save_callback(callback, [event], version=version):
                metrics.CALLBACKS.labels("made").inc()

    async def mark_overdue(self) -> int:
        now = self.now()
        done = 0
        for callback, version, _ in await self.store.overdue_callbacks(now):
            missed = await self.store.get_call(callback.missed_call_id)
            if missed is None:
                continue
            callback.status = "overdue"
            overdue = CallbackOverdue(call=CallRecord.model_validate(missed[0]["record"]), deadline=callback.deadline)
            event = new_event(overdue, source=SOURCE, subject=callback.missed_call_id, time=now)
            if await self.store.save_callback(callback, [event], version=version, extra={"overdue_at": now}):
                metrics.CALLBACKS.labels("overdue").inc()
                done += 1
        return done
