"""The use cases of a deal: open it (from a converted lead, or through the API), move it, record
what happened on it, change its data, link a client's call to it, take an integration's
report. People's changes are checked against the caller, carry an optional expected version
(`If-Match`), and store an `audit.recorded` event in the same update."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from crmhub.access import acting_manager
from crmhub.audit import Caller, audit_record
from crmhub.contacts import normalize_phone
from crmhub.events import CloudEvent, PoisonMessage
from crmhub.schemas.calls import CallCompleted, CallMissed
from crmhub.schemas.deals import ActivityKind, DealActivityReported, Sentiment
from crmhub.schemas.leads import LeadContact, LeadConverted
from deals.domain.deal import Deal, DealRefused, ProductLine
from deals.service_layer.access import check_deal
from deals.service_layer.context import Deals


class StaleVersion(Exception):
    """The caller's expected version is not the deal's (HTTP 409: reload and decide again)."""


class UnknownDeal(LookupError):
    """An event names a deal this service does not have (yet): retried, then dead-lettered."""


def lead_deal_id(lead_id: str) -> str:
    """The one deal a lead converts into: redelivered conversions find it."""
    return f"deal-{uuid.uuid5(uuid.NAMESPACE_URL, f'crmhub:deal-of-lead:{lead_id}').hex[:20]}"


def request_deal_id(actor: str, idempotency_key: str | None) -> str:
    if idempotency_key:
        return f"deal-{uuid.uuid5(uuid.NAMESPACE_URL, f'crmhub:deal:{actor}:{idempotency_key}').hex[:20]}"
    return f"deal-{uuid.uuid4().hex[:20]}"


def _state(deal: Deal) -> dict[str, Any]:
    return {
        "stage": deal.stage,
        "outcome": deal.outcome,
        "manager_id": deal.manager_id,
        "amount": str(deal.amount),
        "title": deal.title,
        "lost_reason": deal.lost_reason,
    }


def audited(
    deps: Deals, caller: Caller, action: str, change: Callable[[Deal], None], expected_version: int | None
) -> Callable[[Deal], None]:
    def apply(deal: Deal) -> None:
        check_deal(caller.principal, deal)
        if expected_version is not None and deal.version != expected_version:
            raise StaleVersion(
                f"deal {deal.id} is at version {deal.version}, not {expected_version}: reload it and decide again"
            )
        before = _state(deal)
        deal.acting(caller.actor)
        change(deal)
        if deal.events:
            now = deps.now()
            deal.record_event(
                audit_record(
                    caller,
                    action=action,
                    entity=f"deal:{deal.id}",
                    at=now,
                    before=before,
                    after=_state(deal),
                    department_id=deal.department_id,
                ),
                at=now,
            )

    return apply


async def _open(deps: Deals, deal: Deal) -> Deal:
    """Store a new deal (an existing one with its id wins) and remember the client's number."""
    if not await deps.store.deals.add(deal):
        existing = await deps.store.deals.get(deal.id)
        assert existing is not None
        return existing
    if deal.contact.phone:
        await deps.store.remember_phone(deal.contact.phone, deal.id, deal.created_at)
    return deal


async def open_from_lead(deps: Deals, event: CloudEvent, converted: LeadConverted) -> Deal:
    lead = converted.lead
    deal_id = lead_deal_id(lead.lead_id)
    existing = await deps.store.deals.get(deal_id)
    if existing is not None:
        if existing.contact.phone:  # the number may not have been remembered before a crash
            await deps.store.remember_phone(existing.contact.phone, existing.id, existing.created_at)
        return existing
    title = " / ".join(part for part in (lead.contact.name, lead.product) if part) or f"Lead {lead.lead_id[:8]}"
    deal = Deal.open(
        deal_id,
        playbook=deps.playbook,
        team=deps.team,
        now=deps.now(),
        title=title[:200],
        pipeline_id=deps.playbook.process.default_pipeline,
        manager_id=converted.manager_id,
        contact=lead.contact,
        region=lead.region,
        product=lead.product,
        source_id=lead.source_id,
        campaign=lead.utm.campaign,
        lead_id=lead.lead_id,
    )
    return await _open(deps, deal)


async def open_deal(
    deps: Deals,
    caller: Caller,
    *,
    title: str,
    pipeline_id: str | None,
    manager_id: str | None,
    contact: LeadContact,
    region: str | None,
    product: str | None,
    products: list[ProductLine],
    amount: Decimal | None,
    currency: str,
    idempotency_key: str | None,
) -> tuple[Deal, bool]:
    """A deal made by a person or an integration; (the deal, whether it is new)."""
    manager = acting_manager(caller.principal, manager_id)
    if deps.directory.manager(manager) is None:
        raise DealRefused("manager_id", f"no manager {manager!r} in the team directory")
    pipeline = pipeline_id or deps.playbook.process.default_pipeline
    if not deps.playbook.process.has_pipeline(pipeline):
        raise DealRefused(
            "pipeline_id",
            f"no pipeline {pipeline!r} (known: {', '.join(p.id for p in deps.playbook.process.pipelines)})",
        )
    deal_id = request_deal_id(caller.actor, idempotency_key)
    existing = await deps.store.deals.get(deal_id)
    if existing is not None:
        return check_deal(caller.principal, existing), False
    now = deps.now()
    deal = Deal.open(
        deal_id,
        playbook=deps.playbook,
        team=deps.team,
        now=now,
        title=title,
        pipeline_id=pipeline,
        manager_id=manager,
        contact=contact,
        region=region,
        product=product,
        products=products,
        amount=amount,
        currency=currency,
        created_by=caller.actor,
    )
    deal.record_event(
        audit_record(
            caller,
            action="deal.created",
            entity=f"deal:{deal.id}",
            at=now,
            after=_state(deal),
            department_id=deal.department_id,
        ),
        at=now,
    )
    stored = await _open(deps, deal)
    return stored, stored is deal


async def move(
    deps: Deals,
    caller: Caller,
    deal_id: str,
    *,
    to: str,
    reason: str | None,
    comment: str | None,
    expected_version: int | None,
) -> Deal:
    def change(deal: Deal) -> None:
        deal.move(
            to,
            playbook=deps.playbook,
            team=deps.team,
            now=deps.now(),
            by=caller.actor,
            lost_reason=reason,
            comment=comment,
        )

    return await deps.store.deals.change(deal_id, audited(deps, caller, "deal.moved", change, expected_version))


async def record_activity(
    deps: Deals,
    caller: Caller,
    deal_id: str,
    *,
    kind: ActivityKind,
    happened_at: datetime | None,
    text: str | None,
    amount: Decimal | None,
    sentiment: Sentiment | None,
    details: dict[str, Any],
    expected_version: int | None,
) -> Deal:
    def change(deal: Deal) -> None:
        now = deps.now()
        deal.record_activity(
            activity_id=None,
            kind=kind,
            happened_at=happened_at or now,
            playbook=deps.playbook,
            team=deps.team,
            now=now,
            by=caller.actor,
            manager_id=caller.principal.subject if caller.principal.kind == "person" else None,
            text=text,
            amount=amount,
            sentiment=sentiment,
            details=details,
        )

    return await deps.store.deals.change(
        deal_id, audited(deps, caller, f"deal.activity.{kind}", change, expected_version)
    )


async def update(
    deps: Deals,
    caller: Caller,
    deal_id: str,
    *,
    title: str | None,
    manager_id: str | None,
    products: list[ProductLine] | None,
    amount: Decimal | None,
    fields: dict[str, Any] | None,
    expected_version: int | None,
) -> Deal:
    if manager_id is not None:
        if caller.principal.kind == "person" and not (caller.principal.has("admin") or caller.principal.has("head")):
            raise PermissionError("only a head or an administrator hands a deal to another manager")
        if deps.directory.manager(manager_id) is None:
            raise DealRefused("manager_id", f"no manager {manager_id!r} in the team directory")

    def change(deal: Deal) -> None:
        deal.update(
            team=deps.team,
            playbook=deps.playbook,
            now=deps.now(),
            title=title,
            manager_id=manager_id,
            products=products,
            amount=amount,
            fields=fields,
        )

    return await deps.store.deals.change(deal_id, audited(deps, caller, "deal.updated", change, expected_version))


def _report_activity_id(report_id: str) -> str:
    return f"report-{hashlib.sha256(report_id.encode()).hexdigest()[:24]}"


async def take_report(deps: Deals, event: CloudEvent, report: DealActivityReported) -> None:
    """An integration reports an activity on a deal (an invoice from accounting, a payment)."""
    if await deps.store.deals.get(report.deal_id) is None:
        raise UnknownDeal(f"deal.activity_reported names deal {report.deal_id!r}, which does not exist (yet)")

    def change(deal: Deal) -> None:
        now = deps.now()
        deal.acting(event.actor or f"integration:{event.source}")
        deal.record_activity(
            activity_id=_report_activity_id(report.report_id),
            kind=report.kind,
            happened_at=report.happened_at or event.time,
            playbook=deps.playbook,
            team=deps.team,
            now=now,
            by=event.actor or event.source,
            text=report.text,
            amount=report.amount,
            sentiment=report.sentiment,
            details={**report.details, "report_id": report.report_id},
        )

    try:
        await deps.store.deals.change(report.deal_id, change)
    except DealRefused as exc:
        raise PoisonMessage(f"deal.activity_reported for {report.deal_id}: {exc.field}: {exc}") from None


async def link_call(deps: Deals, event: CloudEvent, payload: CallCompleted | CallMissed) -> None:
    """A call with a client whose number belongs to an open deal becomes one of its activities."""
    call = payload.call
    phone = normalize_phone(call.client_number, None) if call.client_number.startswith("+") else None
    phone = phone or normalize_phone(call.client_number)
    if phone is None:
        return
    deal_id = await deps.store.deal_for_phone(phone)
    if deal_id is None:
        return

    def change(deal: Deal) -> None:
        if deal.outcome != "open":
            return
        now = deps.now()
        deal.record_activity(
            activity_id=f"call-{call.call_id}",
            kind="call_linked",
            happened_at=call.started_at,
            playbook=deps.playbook,
            team=deps.team,
            now=now,
            manager_id=call.manager_id or deal.manager_id,
            details={
                "call_id": call.call_id,
                "direction": call.direction,
                "outcome": call.outcome or ("missed" if isinstance(payload, CallMissed) else "answered"),
                "talk_seconds": call.talk_seconds,
            },
        )

    await deps.store.deals.change(deal_id, change)
