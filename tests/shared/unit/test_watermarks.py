"""How far every partition of a time-ordered consumer group has been handled: the moment before
which every event has been acted on (what the notifier's e-mails wait for), from each
partition's mark; and how a consumer derives its marks from what it handled and the broker's
high-water marks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from aiokafka import TopicPartition

from crmhub.watermarks import BEGINNING, Mark, PartitionProgress, through

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
GRACE = timedelta(seconds=0.5)


def mark(partition: int, *, caught_up: bool, at: float | None = None, group: str = "g", partitions: int = 3) -> Mark:
    handled = None if at is None else NOW - timedelta(seconds=at)
    return Mark(group, "crm.leads", partition, partitions, caught_up, handled)


def test_caught_up_partitions_hold_nobody_back_but_the_grace_stays():
    marks = [mark(p, caught_up=True, at=60) for p in range(3)]
    assert through(marks, ["g"], now=NOW, grace=GRACE) == NOW - GRACE


def test_the_partition_furthest_behind_holds_the_watermark_at_its_last_handled_event():
    marks = [mark(0, caught_up=False, at=3), mark(1, caught_up=False, at=7), mark(2, caught_up=True, at=60)]
    assert through(marks, ["g"], now=NOW, grace=GRACE) == NOW - timedelta(seconds=7)


def test_a_partition_behind_with_nothing_handled_yet_holds_everything():
    marks = [mark(0, caught_up=False), mark(1, caught_up=True), mark(2, caught_up=True)]
    assert through(marks, ["g"], now=NOW, grace=GRACE) == BEGINNING


def test_a_partition_nobody_reported_means_nothing_is_known():
    marks = [mark(0, caught_up=True), mark(1, caught_up=True)]
    assert through(marks, ["g"], now=NOW, grace=GRACE) is None
    assert through([], ["g"], now=NOW, grace=GRACE) is None


def test_every_group_asked_about_counts_and_others_do_not():
    marks = [mark(p, caught_up=True) for p in range(3)]
    marks += [mark(0, caught_up=False, at=20, group="other", partitions=1)]
    assert through(marks, ["g"], now=NOW, grace=GRACE) == NOW - GRACE
    assert through(marks, ["g", "other"], now=NOW, grace=GRACE) == NOW - timedelta(seconds=20)
    assert through(marks, ["g", "missing"], now=NOW, grace=GRACE) is None


class Consumer:
    """What an aiokafka consumer tells: its assignment, high-water marks, committed offsets."""

    def __init__(self, highwater: dict[int, int | None], committed: dict[int, int | None]) -> None:
        self.high = highwater
        self.commits = committed
        self.asked: list[int] = []

    def assignment(self) -> set[TopicPartition]:
        return {TopicPartition("crm.leads", p) for p in self.high} | {TopicPartition("crm.calls", 0)}

    def highwater(self, partition: TopicPartition) -> int | None:
        return self.high[partition.partition]

    def partitions_for_topic(self, topic: str) -> set[int]:
        return {0, 1, 2, 3}

    async def committed(self, partition: TopicPartition) -> int | None:
        self.asked.append(partition.partition)
        return self.commits[partition.partition]


async def test_a_consumer_marks_what_it_handled_against_the_high_water_marks():
    progress = PartitionProgress("g", "crm.leads")
    t = NOW - timedelta(seconds=5)
    for offset in range(10):
        progress.handled(0, offset, t + timedelta(seconds=offset))
    progress.handled(1, 4, t)
    consumer = Consumer({0: 10, 1: 9, 2: 7, 3: None}, {2: 7, 3: 0})
    marks = {m.partition: m for m in await progress.marks(consumer)}
    assert set(marks) == {0, 1, 2}  # 3 not fetched yet: nothing known, so no mark (the group stays incomplete)
    assert (marks[0].caught_up, marks[0].handled_through) == (True, t + timedelta(seconds=9))
    assert (marks[1].caught_up, marks[1].handled_through) == (False, t)  # offsets 5..8 still to handle
    assert (marks[2].caught_up, marks[2].handled_through) == (True, None)  # the group left off at its end
    assert all(m.partitions == 4 for m in marks.values())
    assert consumer.asked == [2]  # committed offsets asked only for partitions not handled here

    consumer.high = {1: 12}  # 0 and 2 revoked (a rebalance), 1 has new events
    marks = {m.partition: m for m in await progress.marks(consumer)}
    assert set(marks) == {1}
    assert not marks[1].caught_up
    consumer.high = {0: 12, 1: 12}  # 0 back again: where the group left off, not what this process remembers
    consumer.commits[0] = 12
    marks = {m.partition: m for m in await progress.marks(consumer)}
    assert (marks[0].caught_up, marks[0].handled_through) == (True, None)


async def test_a_record_handled_again_does_not_move_a_partition_back():
    progress = PartitionProgress("g", "crm.leads")
    progress.handled(0, 9, NOW)
    progress.handled(0, 3, NOW - timedelta(seconds=9))  # redelivered after a failed commit
    (only,) = await progress.marks(Consumer({0: 10}, {}))
    assert (only.caught_up, only.handled_through) == (True, NOW)
