"""Kafka for the hub: the broker factory, topic creation and at-least-once consumers.

Producers: idempotence on, acks=all.
Consumers: a consumer group whose offsets are committed only after the handler returned, i.e.
after its effect is stored (FastStream's NACK_ON_ERROR; its default on Kafka is at-most-once).
Around each handler:
  - a message that can never be processed (not a CloudEvent, unknown type, invalid data, a
    PoisonMessage raised by the handler) goes to `<topic>.dlq` at once;
  - an infrastructure outage (MongoDB or Kafka unreachable) is retried with capped backoff for
    as long as it lasts: the message is fine, and dead-lettering it would lose it from the flow;
  - any other error is retried with exponential backoff, then dead-lettered;
so the partition keeps moving and nothing is committed before it is stored or dead-lettered.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, TypeVar, Union, cast

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
    TopicAlreadyExistsError,
)
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import TypeAdapter, WithJsonSchema
from pymongo.errors import AutoReconnect, ConnectionFailure, ServerSelectionTimeoutError

from crmhub import metrics
from crmhub.events import CloudEvent, EventData, PoisonMessage, Position, from_record
from crmhub.logs import current_event_id
from crmhub.topics import Topic, dead_letter_topic
from crmhub.watermarks import Mark, PartitionProgress

log = logging.getLogger("crmhub.kafka")

E = TypeVar("E", bound=EventData)
TypedHandler = Callable[[CloudEvent, E], Awaitable[None]]
"""Handles one event type: the envelope and its typed payload."""
BatchHandler = Callable[[list[CloudEvent]], Awaitable[Any]]
"""Handles the valid events of one poll at once (idempotently: each event may come again)."""
# A poll's records handled at once. Catching up a backlog, a larger poll merges more events into
# each document's one update (1,000 managers: a poll of 10,000 touches each manager's document
# once for ten events); live traffic comes in small polls whatever the limit. The fetch bounds it
# too: 4 MiB per partition lets a poll of about 10,000 events of a few hundred bytes come whole
# from three partitions (at 1 MiB, polls stopped at about 4,600). A consumer in time order (the
# notifier) keeps 500: a poll's first events wait until its last are handled, and it is there for
# the person at the other end.
BATCH_RECORDS = 10_000
BATCH_FETCH_BYTES = 4 * 1024 * 1024

INFRASTRUCTURE_ERRORS: tuple[type[BaseException], ...] = (
    ConnectionFailure,
    AutoReconnect,
    ServerSelectionTimeoutError,
    KafkaConnectionError,
    KafkaTimeoutError,
    NodeNotReadyError,
    RequestTimedOutError,
)


@dataclass(frozen=True)
class KafkaLogin:
    """How the hub's clients authenticate to Kafka: nothing (the local broker on loopback), or
    SASL/SCRAM (docs/security.md: a broker other systems subscribe to)."""

    security_protocol: str = "PLAINTEXT"
    mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = None

    def client_options(self) -> dict[str, Any]:
        """For aiokafka's clients (admin, plain consumers)."""
        if self.security_protocol == "PLAINTEXT":
            return {}
        return {
            "security_protocol": self.security_protocol,
            "sasl_mechanism": self.mechanism,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
        }

    def faststream_security(self) -> Any:
        if self.security_protocol == "PLAINTEXT":
            return None
        from faststream.security import SASLPlaintext, SASLScram256, SASLScram512

        kind = {"SCRAM-SHA-512": SASLScram512, "SCRAM-SHA-256": SASLScram256, "PLAIN": SASLPlaintext}[self.mechanism]
        return kind(
            username=self.username or "", password=self.password or "", use_ssl=self.security_protocol == "SASL_SSL"
        )


NO_LOGIN = KafkaLogin()


def make_broker(
    bootstrap_servers: str, *, client_id: str, graceful_timeout: float = 15.0, login: KafkaLogin = NO_LOGIN
) -> KafkaBroker:
    return KafkaBroker(
        bootstrap_servers,
        client_id=client_id,
        enable_idempotence=True,
        acks="all",
        graceful_timeout=graceful_timeout,
        logger=logging.getLogger("faststream"),
        security=login.faststream_security(),
    )


async def ensure_topics(
    bootstrap_servers: str, topics: Iterable[Topic], *, with_dead_letters: bool = True, login: KafkaLogin = NO_LOGIN
) -> None:
    """Create the hub's topics (and their dead-letter topics) when they are missing."""
    wanted: list[NewTopic] = []
    for topic in topics:
        wanted.append(NewTopic(topic.name, topic.partitions, 1, topic_configs=dict(topic.config)))
        if with_dead_letters:
            wanted.append(NewTopic(topic.dlq, 1, 1))
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000, **login.client_options())
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            response = await admin.create_topics(missing)
            for name, code, *_ in getattr(response, "topic_errors", []):
                if code not in (0, TopicAlreadyExistsError.errno):
                    raise RuntimeError(f"creating topic {name} failed with Kafka error code {code}")
    finally:
        await admin.close()


async def end_offsets(bootstrap_servers: str, topic: str, *, login: KafkaLogin = NO_LOGIN) -> dict[int, int]:
    """Where each partition of `topic` ends now (the offset the next record will get)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, request_timeout_ms=10000, **login.client_options())
    await admin.start()
    try:
        (description,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if description["error_code"] != 0:
        raise RuntimeError(f"cannot describe topic {topic}: Kafka error code {description['error_code']}")
    partitions = [TopicPartition(topic, p["partition"]) for p in description["partitions"]]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False, **login.client_options())
    await consumer.start()
    try:
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return {tp.partition: offset for tp, offset in ends.items()}


IN_TIME_ORDER_FETCH_BYTES = 8 * 1024  # a few events per partition per turn (a larger batch still comes whole)
IN_TIME_ORDER_BATCH_RECORDS = 500


def _event_time(headers: Mapping[str, str]) -> datetime | None:
    try:
        moment = datetime.fromisoformat(headers["ce_time"])
    except (KeyError, ValueError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class EventConsumer:
    """Runs one handler for the messages of one topic in one consumer group, with the policy above."""

    def __init__(
        self,
        *,
        broker: KafkaBroker,
        topic: Topic,
        group_id: str,
        handlers: Mapping[type[EventData], TypedHandler[Any]],
        max_attempts: int = 3,
        backoff_seconds: float = 0.2,
        max_backoff_seconds: float = 10.0,
        ready: Callable[[], asyncio.Event | None] = lambda: None,
        batch: BatchHandler | None = None,
        in_time_order: bool = False,
    ) -> None:
        self.broker = broker
        # With `batch`, a poll's records are handled together (one round trip for many events)
        # and committed together once it returned; `handlers` remain the one-by-one path.
        self.batch = batch
        # The client hands out one partition's fetched records before the next partition's; a
        # fetch of up to 1 MiB per partition turns a burst spread over partitions into long runs
        # of one partition. `in_time_order` fetches little per partition, so they take turns
        # often and events are handled close to the order they were produced.
        self.in_time_order = in_time_order
        # ... and tracks how far, in event time, each partition is handled (crmhub.watermarks)
        self.progress = PartitionProgress(group_id, topic.name) if in_time_order else None
        self.subscriber: Any = None
        # What the handlers need before they may act (the service's copy of the team directory
        # caught up): until then the message waits, uncommitted, instead of being decided on a
        # half-read directory (an event for a known manager taken for an unknown one).
        self.ready = ready
        self.topic = topic
        self.group_id = group_id
        self.handlers = {cls.event_type: handler for cls, handler in handlers.items()}
        self.event_classes = tuple(handlers)
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.max_backoff_seconds = max_backoff_seconds

    async def handle(self, msg: KafkaMessage) -> None:
        record = cast("ConsumerRecord[bytes, bytes]", msg.raw_message)
        headers = {k: v.decode(errors="replace") for k, v in record.headers}
        token = current_event_id.set(headers.get("ce_id"))
        await self._until_ready()
        started = time.perf_counter()
        try:
            await self._handle(record, headers)
        finally:
            metrics.EVENT_HANDLING.labels(self.topic.name, self.group_id).observe(time.perf_counter() - started)
            current_event_id.reset(token)
        self._handled([(record, headers)])

    def _handled(self, records: Iterable[tuple[Any, dict[str, str]]]) -> None:
        """Records whose handling ended (acted on, skipped or dead-lettered): how far each partition is."""
        if self.progress is None:
            return
        for record, headers in records:
            self.progress.handled(record.partition, record.offset, _event_time(headers))

    async def marks(self) -> list[Mark]:
        """How far this process has handled the partitions assigned to it (time-ordered consumers)."""
        consumer = getattr(self.subscriber, "consumer", None)
        if self.progress is None or consumer is None:
            return []
        return await self.progress.marks(consumer)

    async def _until_ready(self) -> None:
        ready = self.ready()
        if ready is not None and not ready.is_set():
            await ready.wait()

    async def handle_batch(self, msg: KafkaMessage) -> None:
        """A poll's records: the undecodable dead-lettered, the others to the batch handler at
        once; an infrastructure outage retried as long as it lasts; any other failure sends the
        records through the one-by-one path (retries, dead letters) so one bad event does not
        hold the rest. Nothing is committed before this returns."""
        records = cast("tuple[ConsumerRecord[bytes, bytes], ...]", msg.raw_message)
        await self._until_ready()
        assert self.batch is not None
        started = time.perf_counter()
        taken: list[tuple[Any, dict[str, str], CloudEvent]] = []
        read = [(record, {k: v.decode(errors="replace") for k, v in record.headers}) for record in records]
        for record, headers in read:
            try:
                event, _ = from_record(headers, record.value or b"", record.key)
                event.read_at(Position(record.topic, record.partition, record.offset))
            except PoisonMessage as exc:
                await self.dead_letter(record, headers, exc, reason="poison")
                continue
            if event.type not in self.handlers:
                metrics.EVENTS_CONSUMED.labels(self.topic.name, self.group_id, event.type, "skipped").inc()
                continue
            taken.append((record, headers, event))
        failures = 0
        while taken:
            try:
                await self.batch([event for _, _, event in taken])
            except INFRASTRUCTURE_ERRORS as exc:
                failures += 1
                await self._outage(exc, failures)
                continue
            except Exception as exc:
                log.warning("a batch of %d failed (%s); handling its events one by one", len(taken), exc)
                for record, headers, _ in taken:
                    token = current_event_id.set(headers.get("ce_id"))
                    try:
                        await self._handle(record, headers)
                    finally:
                        current_event_id.reset(token)
                break
            for _, _, event in taken:
                metrics.EVENTS_CONSUMED.labels(self.topic.name, self.group_id, event.type, "handled").inc()
            break
        metrics.EVENT_HANDLING.labels(self.topic.name, self.group_id).observe(time.perf_counter() - started)
        self._handled(read)

    async def _handle(self, record: Any, headers: dict[str, str]) -> None:
        event_type = headers.get("ce_type", "?")
        failures = 0
        while True:
            try:
                event, payload = from_record(headers, record.value or b"", record.key)
                event.read_at(Position(record.topic, record.partition, record.offset))
                handler = self.handlers.get(event.type)
                if handler is None:  # another type on the same topic: not for this consumer
                    metrics.EVENTS_CONSUMED.labels(self.topic.name, self.group_id, event_type, "skipped").inc()
                    return
                await handler(event, payload)
            except PoisonMessage as exc:
                await self.dead_letter(record, headers, exc, reason="poison")
                return
            except INFRASTRUCTURE_ERRORS as exc:
                failures += 1
                await self._outage(exc, failures)
                continue
            except Exception as exc:
                failures += 1
                if failures >= self.max_attempts:
                    log.exception("handler failed %d times; dead-lettering", failures)
                    await self.dead_letter(record, headers, exc, reason="handler_error")
                    return
                metrics.CONSUMER_RETRIES.labels(self.topic.name, self.group_id, "handler").inc()
                log.warning("handler failed (attempt %d of %d): %s", failures, self.max_attempts, exc)
                await asyncio.sleep(self._delay(failures))
                continue
            metrics.EVENTS_CONSUMED.labels(self.topic.name, self.group_id, event_type, "handled").inc()
            return

    async def _outage(self, exc: BaseException, failures: int) -> None:
        """MongoDB or Kafka is unreachable: wait (backing off) and try the same again."""
        metrics.CONSUMER_RETRIES.labels(self.topic.name, self.group_id, "infrastructure").inc()
        log.warning("infrastructure unavailable, will retry: %s", exc)
        await asyncio.sleep(self._delay(failures))

    def _delay(self, failures: int) -> float:
        return float(min(self.backoff_seconds * 2 ** (failures - 1), self.max_backoff_seconds))

    async def dead_letter(self, record: Any, headers: dict[str, str], exc: BaseException, *, reason: str) -> None:
        error = str(exc) or type(exc).__name__
        dlq_headers = {
            **headers,
            "dlq_reason": reason,
            "dlq_error": error[:2000],
            "dlq_error_type": type(exc).__name__,
            "dlq_source_topic": record.topic,
            "dlq_source_partition": str(record.partition),
            "dlq_source_offset": str(record.offset),
            "dlq_consumer_group": self.group_id,
            "dlq_failed_at": datetime.now(UTC).isoformat(),
        }
        if reason != "poison":
            dlq_headers["dlq_traceback"] = "".join(traceback.format_exception(exc))[-4000:]
        # Waits for Kafka's acknowledgement: if this fails the handler raises, nothing is committed
        # and the message is delivered again.
        await self.broker.publish(
            record.value or b"", dead_letter_topic(record.topic), key=record.key, headers=dlq_headers
        )
        metrics.EVENTS_DEAD_LETTERED.labels(self.topic.name, self.group_id, reason).inc()
        metrics.EVENTS_CONSUMED.labels(
            self.topic.name, self.group_id, headers.get("ce_type", "?"), "dead_lettered"
        ).inc()
        log.error("message dead-lettered to %s: %s", dead_letter_topic(record.topic), error, extra={"reason": reason})

    def subscribe(self, *, description: str) -> None:
        """Register with the broker: a consumer group, committing only after `handle` returned."""
        batched: dict[str, Any] = {}
        if self.batch is not None:
            records = IN_TIME_ORDER_BATCH_RECORDS if self.in_time_order else BATCH_RECORDS
            batched = {"batch": True, "max_records": records, "batch_timeout_ms": 100}
        if self.in_time_order:
            batched["max_partition_fetch_bytes"] = IN_TIME_ORDER_FETCH_BYTES
        elif self.batch is not None:
            batched["max_partition_fetch_bytes"] = BATCH_FETCH_BYTES
        self.subscriber = subscriber = self.broker.subscriber(
            self.topic.name,
            group_id=self.group_id,
            ack_policy=AckPolicy.NACK_ON_ERROR,
            decoder=_undecoded,
            auto_offset_reset="earliest",
            title=f"{self.topic.name}:{self.group_id}",
            description=description,
            **batched,
        )
        schema = consumed_schema(self.event_classes)

        # The body parameter is what /asyncapi documents as the payloads consumed; the message
        # itself is decoded and checked by `handle` (an invalid one is dead-lettered, not retried).
        async def on_message(body: Any, msg: KafkaMessage) -> None:
            await (self.handle(msg) if self.batch is None else self.handle_batch(msg))

        # Real objects, not the strings `from __future__ import annotations` would leave.
        body = Annotated[Any, WithJsonSchema(schema if self.batch is None else {"type": "array", "items": schema})]
        on_message.__annotations__ = {"body": body, "msg": KafkaMessage, "return": None}
        subscriber(on_message)


def _undecoded(msg: Any) -> Any:
    """FastStream's decoding of a message's body, skipped: `handle` and `handle_batch` decode
    each record once, from the raw record, as a CloudEvent. The default would turn each record
    of a poll into a message object of its own and parse its JSON, to be thrown away (a tenth
    of a busy consumer's time)."""
    return msg.raw_message


def inlined_schema(model: Any) -> dict[str, Any]:
    """A type's JSON schema with its definitions inlined, for places where `$defs` references do
    not resolve (an AsyncAPI handler's own components, an OpenAPI request body given by hand)."""
    schema = TypeAdapter[Any](cast(Any, model)).json_schema()
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                return inline(definitions[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    inlined: dict[str, Any] = inline(schema)
    return inlined


def consumed_schema(event_classes: tuple[type[EventData], ...]) -> dict[str, Any]:
    """One JSON schema for the payloads of these event types, definitions inlined (AsyncAPI
    places a handler's schema under its own components, where `$defs` references do not resolve)."""
    if not event_classes:
        return {}
    union = event_classes[0] if len(event_classes) == 1 else Union[event_classes]  # noqa: UP007
    result: dict[str, Any] = inlined_schema(union)
    result["description"] = (
        "CloudEvents types "
        + ", ".join(f"`{c.event_type}`" for c in event_classes)
        + " (binary mode: ce_* headers, key = subject)."
    )
    return result
