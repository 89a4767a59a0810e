"""The outbox inside the aggregate document, and the relay that moves it to Kafka.

A state change and the events it emits are written in one single-document update: the events
sit in the document's `outbox` array. The relay publishes them (idempotent producer, acks=all,
in order per key), waits for Kafka to acknowledge, and only then removes exactly those entries
with `$pullAll`. A crash between the two leaves the entries in place and they are sent again
with the same CloudEvents id, which consumers recognise. No multi-document transaction is
needed, which is why this runs on FerretDB and on a stand-alone mongod alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection

from crmhub.events import CloudEvent, KafkaRecord, to_record
from crmhub.mongo import Document

OUTBOX = "outbox"
log = logging.getLogger("crmhub.outbox")

Send = Callable[[KafkaRecord], Awaitable["asyncio.Future[Any]"]]
"""Enqueue one record on the producer; the returned future resolves when Kafka acknowledged it."""


def outbox_entries(events: Iterable[CloudEvent]) -> list[Document]:
    return [event.model_dump(mode="json") for event in events]


def new_aggregate(state: Mapping[str, Any], events: Sequence[CloudEvent]) -> Document:
    """The first document of an aggregate: state, version 1 and its first events."""
    return {**state, "version": 1, OUTBOX: outbox_entries(events)}


async def save_aggregate(
    collection: AsyncCollection[Document],
    doc_id: Any,
    *,
    expected_version: int,
    state: Mapping[str, Any],
    events: Sequence[CloudEvent],
) -> bool:
    """Write new state and append its events in one update, if nobody changed it since it was read.

    False on a concurrent change (the caller reloads and decides again). `$push` rather than a
    whole-document replace, so entries the relay clears meanwhile are not written back.
    """
    result = await collection.update_one(
        {"_id": doc_id, "version": expected_version},
        {"$set": {**state, "version": expected_version + 1}, "$push": {OUTBOX: {"$each": outbox_entries(events)}}},
    )
    return result.modified_count == 1


class OutboxRelay:
    def __init__(
        self,
        *,
        collections: Sequence[AsyncCollection[Document]],
        send: Send,
        poll_seconds: float = 0.5,
        batch_size: int = 200,
        on_published: Callable[[list[CloudEvent]], Awaitable[None]] | None = None,
    ) -> None:
        self._collections = list(collections)
        self._send = send
        self._poll_seconds = poll_seconds
        self._batch_size = batch_size
        self._on_published = on_published
        self._wake = asyncio.Event()

    def nudge(self) -> None:
        """A writer stored events: relay now instead of at the next poll."""
        self._wake.set()

    async def relay_once(self) -> int:
        """Publish what is pending in every collection; returns how many events were relayed."""
        total = 0
        for collection in self._collections:
            total += await self._relay_collection(collection)
        return total

    async def _relay_collection(self, collection: AsyncCollection[Document]) -> int:
        docs = await collection.find({f"{OUTBOX}.0": {"$exists": True}}, {OUTBOX: 1}).limit(self._batch_size).to_list()
        if not docs:
            return 0
        events: list[CloudEvent] = []
        acks = []
        for doc in docs:
            for entry in doc[OUTBOX]:
                event = CloudEvent.model_validate(entry)
                events.append(event)
                acks.append(await self._send(to_record(event)))
        await asyncio.gather(*acks)
        if self._on_published is not None:
            await self._on_published(events)
        for doc in docs:
            await collection.update_one({"_id": doc["_id"]}, {"$pullAll": {OUTBOX: doc[OUTBOX]}})
        return len(events)

    async def run(self) -> None:
        failures = 0
        while True:
            self._wake.clear()
            try:
                relayed = await self.relay_once()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                log.exception("outbox relay failed; pending events stay stored and are retried")
                await asyncio.sleep(min(0.2 * 2**failures, 10.0))
                continue
            if relayed:
                continue  # there may be more than one batch
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll_seconds)
