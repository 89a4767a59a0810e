"""Documents of a deal in one action: render a template on the deal's data to PDF, number it,
store it with the deal, and send it to the client by e-mail (docs/documents.md)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from crmhub.aggregate import NotFound
from crmhub.audit import Caller
from crmhub.events import new_event
from crmhub.schemas.deals import Attachment, DocumentCreated, DocumentSent, DocumentSummary
from deals.adapters.document_store import DocumentStore
from deals.adapters.document_templates import DocumentTemplates
from deals.domain.deal import Deal, DealRefused
from deals.domain.documents import document_context, document_number, safe_file_name
from deals.service_layer import deals as deal_cases
from deals.service_layer.access import check_deal
from deals.service_layer.context import Deals

SOURCE = "/crm/deals"
EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,255}\.[^@\s]{1,63}$")


@dataclass
class Documents:
    deals: Deals
    store: DocumentStore
    templates: DocumentTemplates
    public_url: str  # where the notifier fetches a file (a signed link)
    link_secret: str
    link_seconds: int = 7 * 24 * 3600
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Moscow"))


class DocumentRefused(Exception):
    """The document cannot be made or sent as asked (HTTP 422 naming the field)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


def _document_id(deal_id: str, template_id: str, actor: str, idempotency_key: str | None) -> str:
    if idempotency_key is None:
        return f"doc-{uuid.uuid4().hex[:24]}"
    digest = hashlib.sha256(f"{deal_id}\x1f{template_id}\x1f{actor}\x1f{idempotency_key}".encode()).hexdigest()
    return f"doc-{digest[:24]}"


def _deal_data(deal: Deal) -> dict[str, Any]:
    return deal.model_dump(
        mode="json", include={"id", "title", "products", "amount", "currency", "fields", "contact", "region", "product"}
    )


def signed_link(deps: Documents, document_id: str, now: float | None = None) -> str:
    """A link to the file that works without a token until it expires (the notifier fetches it)."""
    expires = int((now or time.time()) + deps.link_seconds)
    signature = hmac.new(deps.link_secret.encode(), f"{document_id}.{expires}".encode(), hashlib.sha256).hexdigest()
    return f"{deps.public_url.rstrip('/')}/v1/documents/{quote(document_id)}/download?expires={expires}&signature={signature}"


def link_is_valid(deps: Documents, document_id: str, expires: int, signature: str, now: float | None = None) -> bool:
    if expires < (now or time.time()):
        return False
    wanted = hmac.new(deps.link_secret.encode(), f"{document_id}.{expires}".encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(wanted, signature)


def _summary(doc: dict[str, Any]) -> DocumentSummary:
    return DocumentSummary.model_validate(doc)


async def create(
    deps: Documents, caller: Caller, deal_id: str, template_id: str, idempotency_key: str | None
) -> tuple[dict[str, Any], bool]:
    """Render, number, store and announce a document; the same request again returns it."""
    deal = await deps.deals.store.deals.get(deal_id)
    if deal is None:
        raise NotFound(f"no deal {deal_id!r}")
    check_deal(caller.principal, deal)
    template = deps.templates.template(template_id)
    if template is None:
        known = ", ".join(t.id for t in deps.templates.catalogue.templates)
        raise DocumentRefused("template_id", f"no template {template_id!r} (known: {known})")
    document_id = _document_id(deal_id, template_id, caller.actor, idempotency_key)
    existing = await deps.store.get(document_id)
    if existing is not None:
        await _on_deal(deps, caller, existing, template.on_create, f"doc-{document_id}")
        return existing, False
    now = deps.deals.now()
    day = now.astimezone(deps.timezone).date()
    data = _deal_data(deal)
    manager = deps.deals.directory.manager(deal.manager_id) if deal.manager_id else None
    context = document_context(data, deps.templates.seller, number=None, day=day, template=template)
    context["manager_name"] = manager.name if manager else ""
    number = None
    sequence = f"{template.id}:{day.year}"
    if template.numbered:
        # a dry run first: a template that fails on this deal takes no number
        deps.templates.html(template, {**context, "number": "—"})
        number = document_number(template.number_prefix, await deps.store.take_number(sequence, document_id, now))
        context["number"] = number
    html = deps.templates.html(template, context)
    pdf = await asyncio.to_thread(deps.templates.pdf, html)
    sha256 = hashlib.sha256(pdf).hexdigest()
    title = f"{template.title} № {number}" if number else template.title
    file_name = f"{safe_file_name(title)}.pdf"
    await deps.store.put_file(document_id, file_name, pdf, sha256)
    total = context["total"]
    doc: dict[str, Any] = {
        "_id": document_id,
        "document_id": document_id,
        "deal_id": deal.id,
        "template_id": template.id,
        "kind": template.kind,
        "title": title,
        "number": number,
        "year": day.year,
        "date": day.isoformat(),
        "file_name": file_name,
        "media_type": "application/pdf",
        "sha256": sha256,
        "size": len(pdf),
        "amount": str(total),
        "currency": deal.currency,
        "created_by": caller.actor,
        "created_at": now,
        "sent": [],
    }
    event = new_event(
        DocumentCreated(
            document=_summary(doc),
            deal=deal.summary(),
            manager_id=deal.manager_id,
            created_by=caller.actor,
            at=now,
        ),
        source=SOURCE,
        subject=deal.id,
        actor=caller.actor,
    )
    created = await deps.store.add(doc, event)
    if template.numbered:
        await deps.store.number_used(sequence, document_id)
    stored = await deps.store.get(document_id)
    assert stored is not None
    await _on_deal(deps, caller, stored, template.on_create, f"doc-{document_id}")
    return stored, created


async def _on_deal(deps: Documents, caller: Caller, doc: dict[str, Any], kind: str | None, activity_id: str) -> None:
    """Record the document on the deal as the activity its template names (idempotent by id)."""
    if kind is None:
        return

    def change(deal: Deal) -> None:
        now = deps.deals.now()
        deal.record_activity(
            activity_id=activity_id,
            kind=kind,  # type: ignore[arg-type]
            happened_at=now,
            playbook=deps.deals.playbook,
            team=deps.deals.team,
            now=now,
            by=caller.actor,
            manager_id=caller.principal.subject if caller.principal.kind == "person" else None,
            text=doc["title"],
            details={"document_id": doc["_id"], "number": doc.get("number"), "template_id": doc["template_id"]},
        )

    with contextlib.suppress(DealRefused):  # a closed deal: the document stays, the pipeline does not move
        await deps.deals.store.deals.change(
            doc["deal_id"], deal_cases.audited(deps.deals, caller, f"document.{kind}", change, None)
        )


async def get(deps: Documents, caller: Caller, document_id: str) -> dict[str, Any]:
    doc = await deps.store.get(document_id)
    if doc is None:
        raise NotFound(f"no document {document_id!r}")
    deal = await deps.deals.store.deals.get(doc["deal_id"])
    if deal is None:
        raise NotFound(f"no document {document_id!r}")
    check_deal(caller.principal, deal)
    return doc


async def send(
    deps: Documents, caller: Caller, document_id: str, address: str | None, message: str | None
) -> tuple[dict[str, Any], bool]:
    """E-mail the document to the client (the deal's contact unless an address is given), once
    per document and address; the second time answers what was sent."""
    doc = await get(deps, caller, document_id)
    deal = await deps.deals.store.deals.get(doc["deal_id"])
    assert deal is not None
    to = (address or deal.contact.email or "").strip()
    if not to:
        raise DocumentRefused("to", "the deal's contact has no e-mail: name the address in `to`")
    if not EMAIL.fullmatch(to):
        raise DocumentRefused("to", f"{to[:80]!r} is not an e-mail address")
    if any(s["address"] == to for s in doc.get("sent") or []):
        return doc, False
    now = deps.deals.now()
    summary = _summary(doc)
    attachment = Attachment(
        name=doc["file_name"],
        url=signed_link(deps, document_id),
        media_type=doc["media_type"],
        sha256=doc["sha256"],
        size=doc["size"],
    )
    event = new_event(
        DocumentSent(
            document=summary,
            deal=deal.summary(),
            manager_id=deal.manager_id,
            address=to,
            message=message,
            attachments=[attachment],
            sent_by=caller.actor,
            at=now,
        ),
        source=SOURCE,
        subject=deal.id,
        actor=caller.actor,
    )
    record = {"address": to, "at": now, "by": caller.actor, "event_id": event.id}
    sent = await deps.store.mark_sent(document_id, to, record, event)
    template = deps.templates.template(doc["template_id"])
    kind = template.on_send if template else None
    key = hashlib.sha256(f"{document_id}\x1f{to}".encode()).hexdigest()[:20]
    await _on_deal(deps, caller, doc, kind or "document", f"sent-{key}")
    stored = await deps.store.get(document_id)
    assert stored is not None
    return stored, sent
