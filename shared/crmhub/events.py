"""CloudEvents 1.0 over Kafka in binary mode.

The attributes travel as `ce_*` headers, the body is the event's data as JSON, and the message
key is the aggregate id (the CloudEvents `subject`), so one entity's events stay ordered.
Every payload is an `EventData` subclass that names its stable `type` and its topic; the
registry built from those classes decodes what arrives and documents what leaves.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal, cast

from pydantic import BaseModel, ConfigDict, ValidationError

from crmhub.topics import Topic

SPEC_VERSION = "1.0"
CONTENT_TYPE = "application/json"


class PoisonMessage(Exception):
    """A message that can never be processed as it is (malformed, unknown type, invalid data).

    Retrying it is pointless: it goes to the dead-letter topic at once, with this message as the error.
    """


class EventData(BaseModel):
    """Base of every event payload. A subclass sets `event_type` and `topic` to register itself."""

    # Tolerant reader: a newer producer may add fields; consumers ignore what they do not know.
    model_config = ConfigDict(frozen=True, extra="ignore")

    event_type: ClassVar[str]
    topic: ClassVar[Topic]

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        if "event_type" in cls.__dict__:
            known = EVENT_TYPES.get(cls.event_type)
            if known is not None and known.__qualname__ != cls.__qualname__:
                raise TypeError(f"event type {cls.event_type!r} is declared twice")
            EVENT_TYPES[cls.event_type] = cls


EVENT_TYPES: dict[str, type[EventData]] = {}


@dataclass(frozen=True)
class Position:
    """Where a consumer read an event: its topic's partition and its offset there. A consumer
    group handles one partition's records in offset order, so a document its events change can
    remember how far it has taken each partition (`stream`) instead of every event's id."""

    topic: str
    partition: int
    offset: int

    @property
    def stream(self) -> str:
        """The partition as a field name (no dots: a topic name may hold `.` but never `:`)."""
        return f"{self.topic.replace('.', ':')}/{self.partition}"


class CloudEvent(BaseModel):
    """One event as stored in an outbox and sent to Kafka."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    specversion: Literal["1.0"] = "1.0"
    id: str
    type: str
    source: str
    subject: str
    time: datetime
    data: dict[str, Any]
    # Extension attribute: who caused the event through an API (`manager:<id>` or `token:<id>`);
    # absent for what the hub did by itself (a timer, a consumed event).
    actor: str | None = None
    # Where a consumer read it: not part of the event (never serialized, not copied, None once
    # stored and read back). A slot rather than a pydantic private attribute, whose set-up at
    # each construction costs more than decoding the rest of the event: a consumer makes one
    # event per record.
    __slots__ = ("_position",)

    @property
    def position(self) -> Position | None:
        """Where the consumer handling it read it; None for an event not read from Kafka."""
        return cast("Position | None", getattr(self, "_position", None))

    def read_at(self, position: Position) -> CloudEvent:
        """Note where a consumer read this event (done once, as it is decoded)."""
        object.__setattr__(self, "_position", position)  # beside the frozen fields
        return self

    @property
    def topic(self) -> str:
        return data_class(self.type).topic.name

    def payload(self) -> EventData:
        return data_class(self.type).model_validate(self.data)


def data_class(event_type: str) -> type[EventData]:
    try:
        return EVENT_TYPES[event_type]
    except KeyError:
        raise PoisonMessage(f"unknown event type {event_type!r}") from None


def new_event(
    data: EventData,
    *,
    source: str,
    subject: str,
    event_id: str | None = None,
    time: datetime | None = None,
    actor: str | None = None,
) -> CloudEvent:
    return CloudEvent(
        id=event_id or str(uuid.uuid4()),
        type=data.event_type,
        source=source,
        subject=subject,
        time=time or datetime.now(UTC),
        data=data.model_dump(mode="json"),
        actor=actor,
    )


def derived_event_id(cause_id: str, purpose: str) -> str:
    """A deterministic id for an event caused by another one: reprocessing the cause yields the same id."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"crmhub:{cause_id}:{purpose}"))


@dataclass(frozen=True)
class KafkaRecord:
    topic: str
    key: bytes
    value: bytes
    headers: dict[str, str]


def to_record(event: CloudEvent) -> KafkaRecord:
    headers = {
        "ce_specversion": event.specversion,
        "ce_id": event.id,
        "ce_type": event.type,
        "ce_source": event.source,
        "ce_subject": event.subject,
        "ce_time": event.time.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "content-type": CONTENT_TYPE,
    }
    if event.actor:
        headers["ce_actor"] = event.actor
    return KafkaRecord(
        topic=event.topic,
        key=event.subject.encode(),
        value=json.dumps(event.data, ensure_ascii=False, separators=(",", ":")).encode(),
        headers=headers,
    )


REQUIRED_HEADERS = ("ce_id", "ce_type", "ce_source", "ce_time")


def from_record(
    headers: Mapping[str, str | bytes], value: bytes, key: bytes | None = None
) -> tuple[CloudEvent, EventData]:
    """Decode a binary-mode CloudEvent; anything that cannot be an event raises PoisonMessage."""
    attrs = {k: v.decode(errors="replace") if isinstance(v, bytes) else v for k, v in headers.items()}
    missing = [h for h in REQUIRED_HEADERS if not attrs.get(h)]
    if missing:
        raise PoisonMessage(f"not a CloudEvent: missing header(s) {', '.join(missing)}")
    if attrs.get("ce_specversion", SPEC_VERSION) != SPEC_VERSION:
        raise PoisonMessage(f"unsupported CloudEvents specversion {attrs['ce_specversion']!r}")
    cls = data_class(attrs["ce_type"])
    try:
        raw = json.loads(value)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PoisonMessage(f"body of {attrs['ce_type']} is not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise PoisonMessage(f"body of {attrs['ce_type']} is not a JSON object")
    subject = attrs.get("ce_subject") or (key.decode(errors="replace") if key else "")
    try:
        event = CloudEvent(
            id=attrs["ce_id"],
            type=attrs["ce_type"],
            source=attrs["ce_source"],
            subject=subject,
            time=attrs["ce_time"],  # pydantic parses the RFC 3339 string
            data=raw,
            actor=attrs.get("ce_actor") or None,
        )
        payload = cls.model_validate(raw)
    except ValidationError as exc:
        raise PoisonMessage(f"invalid {attrs['ce_type']}: {_first_errors(exc)}") from None
    return event, payload


def _first_errors(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(body)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)
