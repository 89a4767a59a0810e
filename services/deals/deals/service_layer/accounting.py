"""Accounting: the orders 1C takes, and the payments it (or another accounting system) reports,
which move the deal to production by the rules (seed §2.12, §2.13; docs/documents.md)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

from crmhub.events import CloudEvent
from deals.adapters.accounting_store import AccountingStore
from deals.adapters.commerceml import Order, OrderLine, ReportedDocument, parse_day, parse_documents
from deals.domain.deal import Deal, DealRefused
from deals.domain.documents import lines_of
from deals.service_layer.context import Deals

log = logging.getLogger("deals.accounting")
Outcome = Literal["recorded", "duplicate", "parked"]
QUEUE_STAGES = frozenset({"invoice", "payment"})


@dataclass
class Accounting:
    deals: Deals
    store: AccountingStore
    login: str | None = None
    password: str | None = None
    file_limit: int = 2_000_000
    encoding: str = "UTF-8"
    session_lifetime: timedelta = timedelta(hours=1)
    orders_per_query: int = 500
    keys: dict[str, str] | None = None  # the JSON payment webhook's sources and their keys
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Moscow"))


async def on_stage_changed(deps: Accounting, event: CloudEvent) -> None:
    """A deal that reaches invoicing is an order for 1C to take."""
    if event.data.get("to_stage") in QUEUE_STAGES:
        await deps.store.queue(event.data["deal"]["deal_id"], event.time)


def _order(deal: Deal, timezone: ZoneInfo) -> Order:
    data = deal.model_dump(mode="json")
    fields = deal.fields or {}
    invoices = [a for a in deal.activities if a.kind == "invoice_issued" and a.details.get("number")]
    lines = [OrderLine(line.name, line.quantity, line.price, line.total, line.unit) for line in lines_of(data)]
    return Order(
        deal_id=deal.id,
        created_at=deal.created_at.astimezone(timezone),
        client_name=str(fields.get("buyer_name") or deal.contact.name or deal.title),
        client_inn=str(fields["buyer_inn"]) if fields.get("buyer_inn") else None,
        client_kpp=str(fields["buyer_kpp"]) if fields.get("buyer_kpp") else None,
        client_phone=deal.contact.phone,
        client_email=deal.contact.email,
        currency=deal.currency,
        total=sum((line.total for line in lines), Decimal(0)),
        lines=lines,
        invoice_number=str(invoices[-1].details["number"]) if invoices else None,
        comment=deal.title,
    )


async def new_orders(deps: Accounting) -> list[Order]:
    """The orders 1C has not confirmed yet (deals at the invoice stage, lines and amounts)."""
    orders = []
    for deal_id in await deps.store.waiting(deps.orders_per_query):
        deal = await deps.deals.store.deals.get(deal_id)
        if deal is not None:
            orders.append(_order(deal, deps.timezone))
    return orders


def _payment_activity(source: str, payment_key: str) -> str:
    digest = hashlib.sha256("\x1f".join((source, payment_key)).encode()).hexdigest()
    return f"pay-{digest[:24]}"


async def record_payment(
    deps: Accounting,
    *,
    source: str,
    payment_key: str,
    deal_id: str | None,
    amount: Decimal | None,
    paid_at: datetime,
    details: dict[str, Any],
) -> Outcome:
    """A payment for an order: recorded on its deal once (the rules move it to production and
    cancel the "call about payment" task); for an order the hub does not know, parked."""
    deal = await deps.deals.store.deals.get(deal_id) if deal_id else None
    activity_id = _payment_activity(source, payment_key)
    now = deps.deals.now()
    if deal is None:
        parked = await deps.store.park(
            activity_id,
            {
                "source": source,
                "order": deal_id,
                "payment": payment_key,
                "amount": str(amount) if amount is not None else None,
                "paid_at": paid_at,
                "received_at": now,
                "details": details,
                "reason": "no such order in the hub",
            },
        )
        if parked:
            log.warning("payment %s from %s for unknown order %r parked for a person", payment_key, source, deal_id)
        return "parked"
    if deal.has_activity(activity_id):
        return "duplicate"

    def change(deal: Deal) -> None:
        deal.acting(f"integration:{source}")
        deal.record_activity(
            activity_id=activity_id,
            kind="payment_received",
            happened_at=paid_at,
            playbook=deps.deals.playbook,
            team=deps.deals.team,
            now=deps.deals.now(),
            by=f"integration:{source}",
            amount=amount,
            details={**details, "source": source, "payment": payment_key},
        )

    try:
        await deps.deals.store.deals.change(deal.id, change)
    except DealRefused as exc:
        log.warning("payment %s for %s refused by the deal: %s", payment_key, deal.id, exc)
        await deps.store.park(
            activity_id,
            {
                "source": source,
                "order": deal_id,
                "payment": payment_key,
                "received_at": now,
                "details": details,
                "reason": str(exc),
            },
        )
        return "parked"
    return "recorded"


async def take_file(deps: Accounting, content: bytes) -> dict[str, int]:
    """A file 1C sent back: each paid order's payment recorded once, unknown orders parked."""
    documents = parse_documents(content)
    counts = {"documents": len(documents), "recorded": 0, "duplicate": 0, "parked": 0, "unpaid": 0}
    for document in documents:
        outcome = await _take(deps, document)
        counts[outcome] += 1
    return counts


ONEC_FIELDS = {"Номер по 1С": "onec_number", "Дата по 1С": "onec_date", "Статус заказа": "onec_status"}


async def _note_status(deps: Accounting, deal_id: str, document: ReportedDocument) -> None:
    """What 1C says of the order (its own number and date, the order's status) kept in the
    deal's fields; the same again changes nothing."""
    fields = {name: document.requisites[key] for key, name in ONEC_FIELDS.items() if document.requisites.get(key)}
    deal = await deps.deals.store.deals.get(deal_id)
    if deal is None or not fields or all(deal.fields.get(k) == v for k, v in fields.items()):
        return

    def change(deal: Deal) -> None:
        deal.acting("integration:1c")
        deal.update(team=deps.deals.team, playbook=deps.deals.playbook, now=deps.deals.now(), fields=fields)

    await deps.deals.store.deals.change(deal_id, change)


async def _take(deps: Accounting, document: ReportedDocument) -> str:
    if document.order_id or document.number:
        await _note_status(deps, str(document.order_id or document.number), document)
    paid_on = document.paid_on
    if paid_on is None:
        return "unpaid"
    day = parse_day(paid_on)
    paid_at = datetime.combine(day, datetime.min.time(), deps.deals.now().tzinfo) if day else deps.deals.now()
    key = f"{document.order_id or document.number}:{document.payment_number or paid_on}"
    details = {
        "onec_payment_number": document.payment_number,
        "onec_paid_on": paid_on,
        "onec_number": document.requisites.get("Номер по 1С"),
        "onec_date": document.requisites.get("Дата по 1С"),
    }
    return await record_payment(
        deps,
        source="1c",
        payment_key=key,
        deal_id=document.order_id or document.number,
        amount=document.total,
        paid_at=paid_at,
        details={k: v for k, v in details.items() if v},
    )
