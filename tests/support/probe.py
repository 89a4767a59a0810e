"""A probe built from the shared library, run by the backbone tests as a separate process so
that it can really die at a chosen point.

  python -m support.probe relay   --kafka K --mongo M --db D [--crash-after-publish]
  python -m support.probe consume --kafka K --mongo M --db D --topic T --group G [--crash-after-effect] [--batch]
  python -m support.probe follow  --kafka K --out FILE

`relay` moves the outboxes of D.accounts to Kafka with the hub's OutboxRelay and exits once
they are empty; with --crash-after-publish it dies (exit 137) after Kafka acknowledged the
events and before the outbox is cleared.

`consume` applies ProbeRecorded events to D.totals with the hub's EventConsumer and the
idempotent `update_once` helper (with --batch, `update_many_once` guarded by where each event
was read), counting every delivery in D.deliveries (deliberately not
idempotent, so tests can see a redelivery happened). With --crash-after-effect it stores the
first effect, waits past an auto-commit interval and dies (exit 137) inside the handler.

`timers` fires the due `probe.tick` timers of D.timers with the hub's TimerRunner (lease
--lease seconds): each firing counts an invocation in D.firings (deliberately not idempotent)
and stores its effect once in D.effects, keyed by the firing id. With --crash-after-effect it
dies (exit 137) after storing the first effect, before the timer is marked fired.

`follow` keeps the hub's team-directory read model from crm.team and writes it to FILE as
JSON, so a test can watch another process converge.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any, ClassVar

from pymongo import AsyncMongoClient

from crmhub.events import CloudEvent, EventData, PoisonMessage
from crmhub.kafka import EventConsumer
from crmhub.mongo import Document, Guarded, update_many_once, update_once
from crmhub.outbox import OutboxRelay
from crmhub.service import HubService
from crmhub.settings import HubSettings
from crmhub.topics import Topic

PROBE_TOPIC = Topic("crm.test.probe", description="Events of the backbone tests' probe")
CRASH_EXIT = 137


class ProbeRecorded(EventData):
    """A test event: add `amount` to the total of `account` (or fail, when asked to)."""

    event_type: ClassVar[str] = "test.probe.recorded"
    topic: ClassVar[Topic] = PROBE_TOPIC

    account: str
    amount: int
    fail: str | None = None


async def relay(args: argparse.Namespace) -> None:
    settings = HubSettings(
        service_name="probe", kafka_bootstrap_servers=args.kafka, mongodb_url=args.mongo, mongodb_database=args.db
    )
    service = HubService(settings, title="probe", description="backbone test probe")
    service.publishes(ProbeRecorded)
    await service.broker.start()

    async def crash(events: list[CloudEvent]) -> None:
        if args.crash_after_publish:
            print(f"published {[e.id for e in events]}; dying before the outbox is cleared", flush=True)
            os._exit(CRASH_EXIT)

    accounts = service.db["accounts"]
    outbox_relay = OutboxRelay(collections=[accounts], send=service.send_record, on_published=crash)
    while await accounts.count_documents({"outbox.0": {"$exists": True}}):
        await outbox_relay.relay_once()
    await service.stop()


async def consume(args: argparse.Namespace) -> None:
    settings = HubSettings(
        service_name="probe", kafka_bootstrap_servers=args.kafka, mongodb_url=args.mongo, mongodb_database=args.db
    )
    service = HubService(settings, title="probe", description="backbone test probe")
    client: AsyncMongoClient[Document] = AsyncMongoClient(args.mongo)
    db = client[args.db]
    failures: dict[str, int] = {}

    async def handle(event: CloudEvent, payload: ProbeRecorded) -> None:
        await db.deliveries.update_one({"_id": event.id}, {"$inc": {"n": 1}, "$set": {"by": os.getpid()}}, upsert=True)
        if payload.fail == "poison":
            raise PoisonMessage(f"account {payload.account} is closed")
        if payload.fail == "bug":
            raise ZeroDivisionError("a bug in the handler")
        if payload.fail and payload.fail.startswith("flaky"):
            failures[event.id] = failures.get(event.id, 0) + 1
            if failures[event.id] <= int(payload.fail.removeprefix("flaky")):
                from pymongo.errors import AutoReconnect

                raise AutoReconnect("database briefly unreachable")
        await update_once(db.totals, payload.account, event.id, {"$inc": {"total": payload.amount}}, upsert=True)
        if args.crash_after_effect:
            # Linger longer than an auto-commit interval (5 s) first: a consumer that commits
            # before its handler returned (FastStream's default on Kafka) is caught by that.
            print(f"stored the effect of {event.id}; dying before the offset is committed", flush=True)
            await asyncio.sleep(7)
            os._exit(CRASH_EXIT)

    async def handle_batch(events: list[CloudEvent]) -> None:
        payloads = [(event, ProbeRecorded.model_validate(event.data)) for event in events]
        if any(payload.fail for _, payload in payloads):
            raise ValueError("a batch with an event meant to fail: one by one")
        for event, _ in payloads:
            await db.deliveries.update_one(
                {"_id": event.id}, {"$inc": {"n": 1}, "$set": {"by": os.getpid()}}, upsert=True
            )
        await update_many_once(
            db.totals,
            [
                Guarded(payload.account, event.id, {"$inc": {"total": payload.amount}}, event.position)
                for event, payload in payloads
            ],
        )
        if args.crash_after_effect:
            print(f"stored the effect of {len(events)} event(s); dying before the offsets are committed", flush=True)
            await asyncio.sleep(7)
            os._exit(CRASH_EXIT)

    consumer = EventConsumer(
        broker=service.broker,
        topic=Topic(args.topic),
        group_id=args.group,
        handlers={ProbeRecorded: handle},
        max_attempts=3,
        backoff_seconds=0.05,
        batch=handle_batch if args.batch else None,
    )
    consumer.subscribe(description="probe consumer")
    await service.broker.start()
    print("consuming", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await service.broker.stop()


async def timers(args: argparse.Namespace) -> None:
    from datetime import timedelta

    from crmhub.mongo import insert_once
    from crmhub.timers import Timer, TimerRunner, TimerStore

    client: AsyncMongoClient[Document] = AsyncMongoClient(args.mongo, tz_aware=True)
    db = client[args.db]
    runner = TimerRunner(TimerStore(db["timers"]), poll_seconds=0.1, lease=timedelta(seconds=args.lease))

    async def tick(timer: Timer) -> None:
        await db.firings.update_one(
            {"_id": timer.firing_id}, {"$inc": {"n": 1}, "$push": {"by": os.getpid()}}, upsert=True
        )
        await insert_once(db.effects, {"_id": timer.firing_id, "by": os.getpid()})
        if args.crash_after_effect:
            print(f"stored the effect of {timer.firing_id}; dying before the timer is marked fired", flush=True)
            os._exit(CRASH_EXIT)

    runner.on("probe.tick", tick)
    print("firing timers", flush=True)
    await runner.run(asyncio.Event())


async def follow(args: argparse.Namespace) -> None:
    """Keep a team directory read model and write it to --out (JSON) whenever it changes."""
    import json
    from pathlib import Path

    from crmhub.kafka import make_broker
    from crmhub.team_follower import TeamDirectoryFollower

    out = Path(args.out)
    broker = make_broker(args.kafka, client_id="probe-follower")
    follower = TeamDirectoryFollower(broker, args.kafka)

    def dump() -> None:
        directory = follower.directory
        snapshot = {
            "caught_up": follower.caught_up,
            "departments": {k: v.model_dump(mode="json") for k, v in directory.departments.items()},
            "managers": {
                k: {**v.model_dump(mode="json"), "version": directory.version_of(f"manager:{k}")}
                for k, v in directory.managers.items()
            },
        }
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(snapshot))
        tmp.replace(out)

    await broker.start()
    await follower.start()
    while True:
        dump()
        await asyncio.sleep(0.2)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["relay", "consume", "follow", "timers"])
    parser.add_argument("--kafka", required=True)
    parser.add_argument("--mongo", default="")
    parser.add_argument("--db", default="")
    parser.add_argument("--out", default="")
    parser.add_argument("--topic", default=PROBE_TOPIC.name)
    parser.add_argument("--group", default="probe")
    parser.add_argument("--crash-after-publish", action="store_true")
    parser.add_argument("--crash-after-effect", action="store_true")
    parser.add_argument("--batch", action="store_true", help="consume: a poll's events at once")
    parser.add_argument("--lease", type=float, default=30.0)
    args = parser.parse_args()
    runner: Any = {"relay": relay, "consume": consume, "follow": follow, "timers": timers}[args.mode]
    asyncio.run(runner(args))


if __name__ == "__main__":
    main()
