"""In-memory stand-ins for the MongoDB stores, for use-case tests that run in milliseconds.

They subclass the real stores and replace only the database calls, so the rules above them
(version guard, outbox, timer requests, retries) are the production code's own."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any, TypeVar

from crmhub.aggregate import Aggregate
from crmhub.aggregate_store import AggregateStore
from crmhub.mongo import Document
from crmhub.outbox import OUTBOX
from crmhub.timers import Timer, TimerStore
from deals.adapters.deal_store import DealStore
from deals.domain.deal import Deal
from deals.domain.tasks import ClientTasks, TaskHolder
from leads.adapters.lead_store import Claim, LeadStore
from leads.domain.lead import Lead
from leads.domain.stats import GroupBy, LeadFigures, lead_figures
from notifier.adapters.delivery_store import DeliveryStore
from notifier.domain.delivery import Delivery
from telephony.adapters.call_store import CallStore
from telephony.domain.call import Call
from telephony.domain.callbacks import Callback
from telephony.domain.owners import ClientOwner
from telephony.domain.routing import LineRotation

A = TypeVar("A", bound=Aggregate)


class MemoryTimers(TimerStore):
    def __init__(self) -> None:
        super().__init__(collection=None)  # type: ignore[arg-type]
        self.pending: dict[str, Timer] = {}

    async def schedule(self, key: str, kind: str, due_at: datetime, payload: dict[str, Any] | None = None) -> None:
        generation = self.pending[key].generation + 1 if key in self.pending else 1
        self.pending[key] = Timer(key, kind, due_at, payload or {}, generation)

    async def cancel(self, key: str) -> None:
        self.pending.pop(key, None)

    def due_now(self, now: datetime) -> list[Timer]:
        """What the runner would find due (the fakes fire timers by hand)."""
        return sorted((t for t in self.pending.values() if t.due_at <= now), key=lambda t: t.due_at)


class MemoryAggregates(AggregateStore[A]):
    def __init__(self, name: str, model: type[A], timers: MemoryTimers) -> None:
        super().__init__(collection=None, model=model, timers=timers)  # type: ignore[arg-type]
        self._name = name
        self.documents: dict[Any, Document] = {}

    @property
    def name(self) -> str:
        return self._name

    def published(self) -> list[Document]:
        """Every event written to an outbox so far (a relay would publish them)."""
        return [entry for doc in self.documents.values() for entry in doc[OUTBOX]]

    async def find(self, query: Document, *, limit: int = 100) -> list[A]:
        """Equality, `$in` and `$gte` on (dotted) fields: what the services' own queries use."""

        def value_at(doc: Document, path: str) -> Any:
            for part in path.split("."):
                doc = doc.get(part) if isinstance(doc, dict) else None
            return doc

        def matches(doc: Document) -> bool:
            for field, wanted in query.items():
                value = value_at(doc, field)
                if isinstance(wanted, dict) and "$in" in wanted:
                    if value not in wanted["$in"]:
                        return False
                elif isinstance(wanted, dict) and "$gte" in wanted:
                    if value is None or value < wanted["$gte"]:
                        return False
                elif value != wanted:
                    return False
            return True

        return [self.from_document(d) for d in self.documents.values() if matches(d)][:limit]

    async def _find_one(self, aggregate_id: Any) -> Document | None:
        doc = self.documents.get(aggregate_id)
        return None if doc is None else {k: copy.deepcopy(v) for k, v in doc.items() if k != OUTBOX}

    async def _insert(self, document: Document) -> bool:
        if document["_id"] in self.documents:
            return False
        self.documents[document["_id"]] = copy.deepcopy(document)
        return True

    async def _update(
        self, aggregate_id: Any, *, expected_version: int, state: Document, entries: list[Document]
    ) -> bool:
        doc = self.documents.get(aggregate_id)
        if doc is None or doc["version"] != expected_version:
            return False
        doc.update(copy.deepcopy(state), version=expected_version + 1)
        doc[OUTBOX] = [*doc[OUTBOX], *copy.deepcopy(entries)]
        return True


class MemoryLeadStore(LeadStore):
    def __init__(self) -> None:
        self.timers = MemoryTimers()
        self.leads = MemoryAggregates("leads", Lead, self.timers)
        self._claims: dict[str, dict[str, Claim]] = {"submission": {}, "contact": {}}
        self._pools: dict[str, tuple[str | None, int]] = {}

    async def ensure_indexes(self) -> None:
        return None

    async def search(self, filters: dict[str, Any], *, limit: int, offset: int) -> tuple[list[Lead], int]:
        found = [self.leads.from_document(d) for d in self.leads.documents.values()]
        found = [
            lead
            for lead in found
            if all(filters.get(f) in (None, getattr(lead, f)) for f in ("status", "manager_id", "source_id"))
        ]
        return found[offset : offset + limit], len(found)

    async def figures(self, group_by: GroupBy, *, start: datetime | None, end: datetime | None) -> list[LeadFigures]:
        created = [
            doc
            for doc in self.leads.documents.values()
            if (start is None or doc["created_at"] >= start) and (end is None or doc["created_at"] < end)
        ]
        return lead_figures(created, group_by)

    async def open_leads_by_manager(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for doc in self.leads.documents.values():
            if doc["status"] in ("assigned", "in_work") and doc.get("manager_id"):
                counts[doc["manager_id"]] = counts.get(doc["manager_id"], 0) + 1
        return counts

    def _claim_in(self, kind: str, key: str, lead_id: str, now: datetime) -> Claim | None:
        held = self._claims[kind].get(key)
        if held is not None:
            return held
        self._claims[kind][key] = (lead_id, now)
        return None

    def _take_over_in(self, kind: str, key: str, from_lead: str, to_lead: str, now: datetime) -> bool:
        if self._claims[kind].get(key, ("", now))[0] != from_lead:
            return False
        self._claims[kind][key] = (to_lead, now)
        return True

    async def claim_submission(self, key: str, lead_id: str, now: datetime) -> Claim | None:
        return self._claim_in("submission", key, lead_id, now)

    async def take_over_submission(self, key: str, *, from_lead: str, to_lead: str, now: datetime) -> bool:
        return self._take_over_in("submission", key, from_lead, to_lead, now)

    async def claim_contact(self, key: str, lead_id: str, now: datetime) -> Claim:
        return self._claim_in("contact", key, lead_id, now) or (lead_id, now)

    async def take_over_contact(self, key: str, *, from_lead: str, to_lead: str, now: datetime) -> bool:
        return self._take_over_in("contact", key, from_lead, to_lead, now)

    async def pool_cursor(self, pool_key: str) -> tuple[str | None, int]:
        return self._pools.setdefault(pool_key, (None, 0))

    async def advance_pool(self, pool_key: str, *, expected_version: int, cursor: str | None) -> bool:
        if self._pools.get(pool_key, (None, 0))[1] != expected_version:
            return False
        self._pools[pool_key] = (cursor, expected_version + 1)
        return True


class MemoryCallStore(CallStore):
    def __init__(self) -> None:
        self.timers = MemoryTimers()
        super().__init__(
            MemoryAggregates("calls", Call, self.timers),
            MemoryAggregates("callbacks", Callback, self.timers),
            MemoryAggregates("client_owners", ClientOwner, self.timers),
            MemoryAggregates("line_rotations", LineRotation, self.timers),
        )


class MemoryDeliveryStore(DeliveryStore):
    def __init__(self) -> None:
        self.timers = MemoryTimers()
        self.deliveries = MemoryAggregates("deliveries", Delivery, self.timers)
        self.inbox_messages: dict[str, Document] = {}

    async def recent_count(self, recipient: str, channel: str, since: datetime) -> int:
        docs = self.deliveries.documents.values()
        return sum(
            1
            for d in docs
            if (d["recipient"], d["channel"]) == (recipient, channel) and d["created_at"] >= since and not d["digest"]
        )

    async def list_queued(self, delivery: Delivery) -> None:
        return None  # recent_count and held_for below look at the deliveries themselves

    async def held_for(self, recipient: str, channel: str) -> list[Delivery]:
        held = [
            delivery
            for status in ("pending", "sending")
            for delivery in await self.deliveries.find(
                {"recipient": recipient, "channel": channel, "status": status, "digest": True}
            )
        ]
        return sorted(held, key=lambda d: d.created_at)

    async def put_in_inbox(self, notification_id: str, manager_id: str, subject: str, text: str, now: datetime) -> None:
        self.inbox_messages.setdefault(notification_id, {"manager_id": manager_id, "subject": subject, "text": text})


class MemoryDealStore(DealStore):
    def __init__(self) -> None:
        self.timers = MemoryTimers()
        self.deals = MemoryAggregates("deals", Deal, self.timers)
        self.clients = MemoryAggregates("client_tasks", ClientTasks, self.timers)
        self.phones: dict[str, str] = {}

    async def ensure_indexes(self) -> None:
        return None

    async def remember_phone(self, phone: str, deal_id: str, at: datetime) -> None:
        self.phones[phone] = deal_id

    async def deal_for_phone(self, phone: str) -> str | None:
        return self.phones.get(phone)

    async def search(self, filters: dict[str, Any], *, limit: int, offset: int) -> tuple[list[Deal], int]:
        found = [self.deals.from_document(d) for d in self.deals.documents.values()]
        found = [
            deal
            for deal in found
            if all(filters.get(f) in (None, getattr(deal, f)) for f in ("manager_id", "department_id", "stage"))
        ]
        return found[offset : offset + limit], len(found)

    async def holders_with_open_tasks(self, manager_id: str | None, department_id: str | None) -> list[TaskHolder]:
        holders: list[TaskHolder] = []
        for store in (self.deals, self.clients):
            holders += [store.from_document(d) for d in store.documents.values()]
        return [h for h in holders if (manager_id in h.task_managers if manager_id else h.task_managers)]

    async def holders_with_tasks_of(self, manager_id: str | None) -> list[TaskHolder]:
        holders: list[TaskHolder] = []
        for store in (self.deals, self.clients):
            holders += [store.from_document(d) for d in store.documents.values()]
        return holders
