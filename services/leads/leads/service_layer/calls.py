"""Calls from crm.calls: an inbound call from a number with no open lead becomes one; otherwise
a touch of it."""

from __future__ import annotations

import logging

from crmhub.events import CloudEvent
from crmhub.schemas.calls import CallCompleted, CallMissed
from crmhub.schemas.leads import LeadContact, Utm
from leads.domain.submission import Submission
from leads.service_layer.context import Leads
from leads.service_layer.intake import receive

log = logging.getLogger("leads.calls")


async def receive_call(deps: Leads, event: CloudEvent, payload: CallCompleted | CallMissed) -> None:
    call = payload.call
    if call.direction != "inbound" or not call.caller_valid or not call.caller.startswith("+"):
        return
    source = deps.sources.by_id(deps.phone_source_id)
    if source is None:
        log.warning("no source %r is configured: calls do not become leads", deps.phone_source_id)
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
    await receive(deps, submission, source, call=call)
