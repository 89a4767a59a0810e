from __future__ import annotations

import json
import logging

from crmhub.logs import JsonFormatter, current_event_id


def _format(message: str, *args: object, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("crmhub.test", logging.INFO, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return json.loads(JsonFormatter("leads").format(record))


def test_log_lines_are_json_with_service_and_the_event_being_handled():
    token = current_event_id.set("evt-42")
    try:
        line = _format("handled %s", "lead.created")
    finally:
        current_event_id.reset(token)
    assert line["service"] == "leads"
    assert line["event_id"] == "evt-42"
    assert line["message"] == "handled lead.created"
    assert line["level"] == "info"


def test_contacts_are_masked_in_messages_and_extra_fields():
    line = _format(
        "new lead %s <%s>",
        "+79123456789",
        "anna@example.com",
        contact={"phone": "8 912 345 67 89", "email": "Boris@example.com"},
    )
    dumped = json.dumps(line)
    assert "9123456789" not in dumped
    assert "912 345 67 89" not in dumped
    assert "anna@" not in dumped
    assert "Boris@" not in dumped
    assert "a***@example.com" in line["message"]


def test_no_event_id_outside_a_handler():
    assert "event_id" not in _format("starting")
