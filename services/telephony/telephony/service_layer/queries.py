"""What people read: a call with its call-back, pages of calls and call-backs, the figures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from crmhub.aggregate import NotFound
from crmhub.auth import Principal
from crmhub.mongo import Document
from crmhub.schemas.calls import CallRecord
from telephony.adapters.provider_api import RecordingUnavailable
from telephony.domain.callbacks import Callback
from telephony.domain.stats import GroupBy, call_figures
from telephony.service_layer.access import can_see, visible_filters
from telephony.service_layer.context import Telephony


async def call_with_callback(deps: Telephony, principal: Principal, call_id: str) -> tuple[CallRecord, Callback | None]:
    call = await deps.store.calls.get(call_id)
    if call is None or call.record is None or not can_see(principal, call.record.manager_id, deps.directory):
        raise NotFound(f"no call {call_id!r}")
    return call.record, await deps.store.callbacks.get(call_id)


async def recording_link(deps: Telephony, principal: Principal, call_id: str) -> str:
    """A link to the call's recording: the provider's own URL, or a fresh one from its API.
    NotFound when the call is not visible or has no recording; RecordingUnavailable when the
    provider gives no link."""
    record, _ = await call_with_callback(deps, principal, call_id)
    if record.recording_id:
        provider = deps.providers.by_id(record.provider_id)
        if provider is None:
            raise RecordingUnavailable(f"provider {record.provider_id!r} is no longer configured")
        return await deps.provider_api.link(provider, record.recording_id)
    if record.recording_url:
        return record.recording_url
    raise NotFound(f"call {call_id!r} has no recording")


async def calls(
    deps: Telephony, principal: Principal, filters: dict[str, Any], *, limit: int, offset: int
) -> tuple[list[Document], int]:
    return await deps.store.search(visible_filters(principal, filters, deps.directory), limit=limit, offset=offset)


async def callbacks(
    deps: Telephony, principal: Principal, status: str | None, *, limit: int, offset: int
) -> tuple[list[Callback], int]:
    filters = visible_filters(principal, {"status": status}, deps.directory)
    return await deps.store.list_callbacks(filters, limit=limit, offset=offset)


async def figures(
    deps: Telephony, *, group_by: GroupBy, start: datetime | None, end: datetime | None
) -> tuple[float, list[dict[str, Any]]]:
    """(the answer standard in seconds, the figures per group)."""
    calls = await deps.store.records_between(start, end)
    callbacks = await deps.store.callbacks_between(start, end)
    standard = max((p.answer_standard_seconds for p in deps.providers.providers), default=15.0)

    def department_of(manager_id: str | None) -> str | None:
        manager = deps.directory.manager(manager_id) if manager_id else None
        return manager.department_id if manager else None

    return standard, call_figures(
        calls, callbacks, group_by=group_by, answer_standard_seconds=standard, department_of=department_of
    )
