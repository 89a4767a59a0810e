from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from crmhub.events import (
    EVENT_TYPES,
    CloudEvent,
    EventData,
    PoisonMessage,
    Position,
    derived_event_id,
    from_record,
    new_event,
    to_record,
)
from crmhub.schemas.team import Department, DepartmentUpserted, ManagerUpserted
from crmhub.topics import TEAM


def _department_event():
    data = DepartmentUpserted(
        change="created", version=1, department=Department(id="sales", name="Продажи", region="Moscow")
    )
    return new_event(
        data, source="/crm/motivation", subject="department:sales", time=datetime(2026, 11, 26, 10, 0, tzinfo=UTC)
    )


def test_event_round_trips_through_kafka_binary_mode():
    event = _department_event()
    record = to_record(event)
    assert record.topic == TEAM.name
    assert record.key == b"department:sales"
    assert record.headers["ce_type"] == "team.department.upserted"
    assert record.headers["ce_time"] == "2026-11-26T10:00:00Z"
    assert "Продажи".encode() in record.value  # UTF-8, not \u escapes

    decoded, payload = from_record({k: v.encode() for k, v in record.headers.items()}, record.value, record.key)
    assert decoded == event
    assert payload == DepartmentUpserted.model_validate(event.data)


def test_where_a_consumer_read_an_event_is_kept_on_the_decoded_event_and_never_stored():
    """The guard of every exactly-once consumer rests on `position`: set where a record is
    decoded, absent from what is serialized, and None for an event made from stored data."""
    record = to_record(_department_event())
    decoded, _ = from_record({k: v.encode() for k, v in record.headers.items()}, record.value, record.key)
    assert decoded.position is None
    assert decoded.read_at(Position("crm.team", 2, 41)) is decoded
    assert decoded.position == Position("crm.team", 2, 41)
    assert decoded.position.stream == "crm:team/2"
    stored = decoded.model_dump(mode="json")
    assert not {"position", "_position"} & set(stored)
    assert CloudEvent.model_validate(stored).position is None
    assert to_record(decoded).value == record.value
    with pytest.raises(ValidationError):  # the event itself stays frozen
        decoded.subject = "other"  # type: ignore[misc]


def test_subject_falls_back_to_the_message_key():
    record = to_record(_department_event())
    headers = {k: v for k, v in record.headers.items() if k != "ce_subject"}
    decoded, _ = from_record(headers, record.value, b"department:sales")
    assert decoded.subject == "department:sales"


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda h, v: ({k: x for k, x in h.items() if k != "ce_id"}, v), r"missing header\(s\) ce_id"),
        (lambda h, v: ({**h, "ce_type": "no.such.type"}, v), "unknown event type"),
        (lambda h, v: ({**h, "ce_specversion": "0.3"}, v), "specversion"),
        (lambda h, v: (h, b"{broken"), "not JSON"),
        (lambda h, v: (h, b"[1, 2]"), "not a JSON object"),
        (lambda h, v: (h, b'{"change": "created", "version": "x"}'), "invalid team.department.upserted"),
        (lambda h, v: ({**h, "ce_time": "yesterday"}, v), "time"),
    ],
)
def test_undecodable_messages_are_poison_with_a_reason(mutate, reason):
    record = to_record(_department_event())
    headers, value = mutate(dict(record.headers), record.value)
    with pytest.raises(PoisonMessage, match=reason):
        from_record(headers, value)


def test_unknown_fields_from_newer_producers_are_ignored():
    record = to_record(_department_event())
    value = record.value.replace(b'{"change"', b'{"added_later": 1, "change"')
    _, payload = from_record(record.headers, value)
    assert isinstance(payload, DepartmentUpserted)


def test_derived_event_ids_are_deterministic_per_cause_and_purpose():
    assert derived_event_id("e1", "lead") == derived_event_id("e1", "lead")
    assert derived_event_id("e1", "lead") != derived_event_id("e1", "task")
    assert derived_event_id("e1", "lead") != derived_event_id("e2", "lead")


def test_every_registered_event_type_is_unique_and_names_a_topic():
    assert EVENT_TYPES["team.department.upserted"] is DepartmentUpserted
    assert EVENT_TYPES["team.manager.upserted"] is ManagerUpserted
    for event_type, cls in EVENT_TYPES.items():
        assert cls.event_type == event_type
        assert cls.topic.name.startswith("crm.")


def test_declaring_an_event_type_twice_is_refused():
    with pytest.raises(TypeError, match="declared twice"):

        class Impostor(EventData):
            event_type = "team.department.upserted"
            topic = TEAM
