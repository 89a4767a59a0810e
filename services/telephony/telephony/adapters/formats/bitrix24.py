"""`bitrix24`: `telephony.externalcall.register` / `.finish`-style payloads, as a PBX connector
built for Bitrix24 sends them (JSON).

register: CALL_ID, USER_PHONE_INNER (extension), PHONE_NUMBER, TYPE (1 outgoing, 2 incoming,
3 incoming with redirect, 4 callback), CALL_START_DATE, LINE_NUMBER.
finish: CALL_ID, USER_PHONE_INNER, DURATION, STATUS_CODE (200 success, 304 missed, 603
declined, 603-S cancelled, 486 busy, 484/480/404/503 failed), RECORD_URL.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from crmhub.intake import Received, invalid, json_value, require_media_type
from crmhub.schemas.calls import Direction, Outcome
from telephony.adapters.formats.common import Parsed, check_api_key, field_of, local_time
from telephony.adapters.providers import Provider
from telephony.domain.call import CallFact

STATUS: dict[str, Outcome] = {
    "200": "answered",
    "304": "missed",
    "603": "missed",
    "603-S": "cancelled",
    "486": "busy",
    "484": "failed",
    "480": "failed",
    "404": "failed",
    "503": "failed",
}
TYPES: dict[str, Direction] = {"1": "outbound", "2": "inbound", "3": "inbound", "4": "outbound"}


def verify(provider: Provider, received: Received) -> None:
    check_api_key(provider, received)


def parse(provider: Provider, received: Received) -> Parsed:
    require_media_type(received, "application/json")
    data = json_value(received.body)
    if not isinstance(data, dict):
        raise invalid("body must be a JSON object")
    call_id = field_of(data, "CALL_ID")
    extension = str(data["USER_PHONE_INNER"]) if data.get("USER_PHONE_INNER") else None
    if "STATUS_CODE" in data or "DURATION" in data:
        code = str(data.get("STATUS_CODE", ""))
        if code not in STATUS:
            raise invalid(f"STATUS_CODE: {code or 'missing'!r} is not a telephony.externalcall.finish status")
        try:
            duration = float(data.get("DURATION") or 0)
        except (TypeError, ValueError):
            raise invalid("DURATION must be a number of seconds") from None
        ended = (
            local_time(str(data["CALL_END_DATE"]), provider, "CALL_END_DATE")
            if data.get("CALL_END_DATE")
            else datetime.now(UTC)
        )
        outcome = STATUS[code]
        facts = [
            CallFact(
                "ended",
                call_id,
                ended,
                seq=9,
                outcome=outcome,
                talk_seconds=duration if outcome == "answered" else None,
                extension=extension,
            )
        ]
        if outcome == "answered":
            facts.append(CallFact("answered", call_id, ended - timedelta(seconds=duration), extension=extension))
        if data.get("RECORD_URL"):
            facts.append(CallFact("recording", call_id, ended, recording_url=str(data["RECORD_URL"])))
        return Parsed(facts=facts)
    kind = str(data.get("TYPE", ""))
    if kind not in TYPES:
        raise invalid(f"TYPE: {kind or 'missing'!r} must be 1 (outgoing), 2 or 3 (incoming) or 4 (callback)")
    direction = TYPES[kind]
    number = field_of(data, "PHONE_NUMBER")
    line = data.get("LINE_NUMBER")
    started = (
        local_time(str(data["CALL_START_DATE"]), provider, "CALL_START_DATE")
        if data.get("CALL_START_DATE")
        else datetime.now(UTC)
    )
    caller, callee = (number, line or extension) if direction == "inbound" else (extension or line, number)
    return Parsed(
        facts=[
            CallFact(
                "started",
                call_id,
                started,
                direction=direction,
                caller=caller,
                callee=callee,
                line=line if direction == "inbound" else None,
                extension=extension,
            )
        ]
    )
