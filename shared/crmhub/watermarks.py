"""How far, in event time, a consumer group has handled every partition of its topic: what lets
a service act on events in the order they happened although they arrive on many partitions.

A person's messages come from many leads, calls and deals, keyed by those, so on every
partition; one partition can be handled ahead of another. The notifier sends a message only
once every partition it reads has been handled past the message's event time (`through`): by
then every earlier event has been turned into its delivery, so the deliveries fall due in the
order their events happened.

- Each consumer that keeps time order tracks, per assigned partition, the next offset it has
  handled and the latest event time it handled there (`PartitionProgress`). Records are
  "handled" only after the handler returned (skipped and dead-lettered ones too).
- A partition is **caught up** when everything up to its high-water mark (from the client's
  last fetch) is handled: it holds nobody back. One that is behind holds the watermark at the
  time of the last event handled from it (a partition's events come in time order). One never
  handled since it was assigned, and behind, holds it at the beginning of time.
- The marks go to the service's `watermarks` collection (`_id` = group|topic|partition), so
  every instance's sender sees the partitions every other instance consumes; a mark changes
  only when a partition's state does, so an idle service writes nothing.
- `through` is the minimum over every partition of the groups asked about, and at most
  `now - grace`: an event reaches Kafka a moment after its time (the outbox relay), and the
  grace gives it that moment. A group with a partition nobody has reported gives None: nothing
  is known to be complete.

Order is kept for events that reach Kafka within the grace of their time; the sender caps how
long a message waits for it (a dead consumer must not hold the notifications back for good).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from aiokafka import TopicPartition
from pymongo import UpdateOne
from pymongo.asynchronous.collection import AsyncCollection

from crmhub.mongo import Document

BEGINNING = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Mark:
    """One partition's state as its consumer last reported it."""

    group: str
    topic: str
    partition: int
    partitions: int  # how many the topic has: a group is complete when each reported
    caught_up: bool
    handled_through: datetime | None  # the latest event time handled from it (None: none yet)

    @property
    def key(self) -> str:
        return f"{self.group}|{self.topic}|{self.partition}"

    @property
    def holds_at(self) -> datetime | None:
        """Where this partition holds the watermark; None when it holds nobody back."""
        if self.caught_up:
            return None
        return self.handled_through or BEGINNING


def through(marks: Iterable[Mark], groups: Iterable[str], *, now: datetime, grace: timedelta) -> datetime | None:
    """The event time before which every event of `groups`' partitions has been handled; None
    while a group has a partition nobody reported."""
    wanted = set(groups)
    seen: dict[str, set[int]] = {group: set() for group in wanted}
    size: dict[str, int] = {}
    watermark = now - grace
    for mark in marks:
        if mark.group not in wanted:
            continue
        seen[mark.group].add(mark.partition)
        size[mark.group] = mark.partitions
        held = mark.holds_at
        if held is not None:
            watermark = min(watermark, held)
    if any(len(seen[group]) < size.get(group, 1) for group in wanted):
        return None
    return watermark


class Consumer(Protocol):
    """What `PartitionProgress` reads from an aiokafka consumer."""

    def assignment(self) -> set[TopicPartition]: ...

    def highwater(self, partition: TopicPartition) -> int | None: ...

    def partitions_for_topic(self, topic: str) -> set[int] | None: ...

    async def committed(self, partition: TopicPartition) -> int | None: ...


class PartitionProgress:
    """One consumer group's handled offsets and event times, per partition, in this process."""

    def __init__(self, group: str, topic: str) -> None:
        self.group = group
        self.topic = topic
        self._next: dict[int, int] = {}  # the next offset not yet handled
        self._time: dict[int, datetime] = {}

    def handled(self, partition: int, offset: int, event_time: datetime | None) -> None:
        self._next[partition] = max(self._next.get(partition, 0), offset + 1)
        if event_time is not None and (partition not in self._time or event_time > self._time[partition]):
            self._time[partition] = event_time

    async def marks(self, consumer: Consumer) -> list[Mark]:
        """The marks of the partitions assigned to this process now (revoked ones are forgotten:
        their new owner reports them)."""
        assigned = sorted(tp.partition for tp in consumer.assignment() if tp.topic == self.topic)
        for gone in set(self._next) - set(assigned):
            self._next.pop(gone, None)
            self._time.pop(gone, None)
        count = len(consumer.partitions_for_topic(self.topic) or ()) or len(assigned)
        marks = []
        for partition in assigned:
            tp = TopicPartition(self.topic, partition)
            try:
                highwater = consumer.highwater(tp)
            except AssertionError:  # revoked this very moment (a rebalance)
                continue
            if highwater is None:  # not fetched yet: nothing known
                continue
            if partition not in self._next:
                # nothing handled here since it was assigned: where the group left off
                self._next[partition] = await consumer.committed(tp) or 0
            marks.append(
                Mark(
                    self.group,
                    self.topic,
                    partition,
                    count,
                    caught_up=self._next[partition] >= highwater,
                    handled_through=self._time.get(partition),
                )
            )
        return marks


class WatermarkStore:
    """The `watermarks` collection: one small document per partition of each ordered group."""

    def __init__(self, collection: AsyncCollection[Document]) -> None:
        self.collection = collection
        self._written: dict[str, Mark] = {}

    async def report(self, marks: Iterable[Mark]) -> int:
        """Store the marks that changed since this process last wrote them; how many."""
        changed = [m for m in marks if self._written.get(m.key) != m]
        if not changed:
            return 0
        now = datetime.now(UTC)
        await self.collection.bulk_write(
            [UpdateOne({"_id": m.key}, {"$set": {**_fields(m), "reported_at": now}}, upsert=True) for m in changed],
            ordered=False,
        )
        self._written.update((m.key, m) for m in changed)
        return len(changed)

    async def through(self, groups: Iterable[str], *, now: datetime, grace: timedelta) -> datetime | None:
        docs = await self.collection.find({}).to_list()  # a few documents: one per partition
        return through((_mark(d) for d in docs), groups, now=now, grace=grace)


def _fields(mark: Mark) -> dict[str, Any]:
    return {
        "group": mark.group,
        "topic": mark.topic,
        "partition": mark.partition,
        "partitions": mark.partitions,
        "caught_up": mark.caught_up,
        "handled_through": mark.handled_through,
    }


def _mark(doc: Mapping[str, Any]) -> Mark:
    handled = doc.get("handled_through")
    if handled is not None and handled.tzinfo is None:
        handled = handled.replace(tzinfo=UTC)
    return Mark(
        doc["group"], doc["topic"], int(doc["partition"]), int(doc["partitions"]), bool(doc["caught_up"]), handled
    )
