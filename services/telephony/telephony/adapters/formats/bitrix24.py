"""`bitrix24`: the parameters of Bitrix24's `telephony.externalcall.register` and
`telephony.externalcall.finish`, as a PBX connector built for Bitrix24 sends them (JSON or
form-encoded), so a connector can be pointed at the hub instead of Bitrix24.

As documented (dev.1c-bitrix.ru/rest_help/scope_telephony/telephony/
telephony_externalcall_register.php and …_finish.php):
register: USER_PHONE_INNER or USER_ID (whose call it is), PHONE_NUMBER, TYPE (1 outgoing,
2 incoming, 3 incoming with redirect, 4 callback), CALL_START_DATE, LINE_NUMBER,
EXTERNAL_CALL_ID, CRM_CREATE… — no CALL_ID: Bitrix24 answers with one, and so does the hub
(`{"result": {"CALL_ID": …}}`), the same one for the same registration (EXTERNAL_CALL_ID when
given). finish: CALL_ID, USER_ID, DURATION, STATUS_CODE (200 success, 304 missed, 603 declined,
603-S cancelled, 486 busy, 484/480/404/503 failed), RECORD_URL; it has no end time, so the end
is when the finish arrives — and a redelivered finish is the same fact, not a later end.
USER_ID is mapped to a manager by the provider's `users` map; USER_PHONE_INNER by `extensions`.

Bitrix24's own outbound event ONEXTERNALCALLSTART (b24restdocs api-reference/telephony/events/
on-external-call-start.md: a user clicked a number in the CRM) arrives form-encoded with
`event`, `data[PHONE_NUMBER]`, `data[USER_ID]`, `data[LINE_NUMBER]`, `data[CALL_ID]`, `ts` and
`auth[application_token]`, which must equal the provider's secret. It starts an outbound call;
other events are acknowledged and ignored.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

from crmhub.intake import Received, form_fields, invalid, json_value, require_media_type, unauthorized
from crmhub.schemas.calls import Direction, Outcome
from telephony.adapters.formats.common import Parsed, check_api_key, local_time, seconds_of, text_of, unix_time
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
# a registration without a start time is the same registration for half an hour, as in Bitrix24
SAME_REGISTRATION = 1800


def _event(received: Received) -> dict[str, str] | None:
    """Bitrix24's own outbound event (form-encoded, with `event`), else None."""
    if received.media_type != "application/x-www-form-urlencoded":
        return None
    data = form_fields(received.body, join_repeated=False)
    return data if "event" in data and "auth[application_token]" in data else None


def verify(provider: Provider, received: Received) -> None:
    event = _event(received)
    if event is None:
        check_api_key(provider, received)
        return
    secret = provider.resolved_secret()
    if not secret or not hmac.compare_digest(event["auth[application_token]"].encode(), secret.encode()):
        raise unauthorized("auth[application_token] is not the token of this handler")


def _call_start(event: dict[str, str]) -> Parsed:
    if event.get("event", "").upper() != "ONEXTERNALCALLSTART":
        return Parsed()
    data = {k[5:-1]: v for k, v in event.items() if k.startswith("data[") and k.endswith("]")}
    call_id = text_of(data, "CALL_ID")
    number = text_of(data, "PHONE_NUMBER_INTERNATIONAL", required=False) or text_of(data, "PHONE_NUMBER")
    extension = text_of(data, "EXTENSION", required=False)
    fact = CallFact(
        "started",
        call_id,
        unix_time(event.get("ts"), "ts"),
        direction="outbound",
        caller=extension,
        callee=number,
        extension=extension,
        user=text_of(data, "USER_ID", required=False),
    )
    return Parsed(facts=[fact])


def _body(received: Received) -> dict[str, Any]:
    require_media_type(received, "application/json", "application/x-www-form-urlencoded")
    if received.media_type == "application/json":
        data = json_value(received.body)
        if not isinstance(data, dict):
            raise invalid("body must be a JSON object")
        return data
    return dict(form_fields(received.body, join_repeated=False))


def _registered_call_id(data: dict[str, Any], started: datetime, start_given: bool) -> str:
    external = text_of(data, "EXTERNAL_CALL_ID", required=False)
    if external:
        return external
    moment = started.isoformat() if start_given else str(int(started.timestamp()) // SAME_REGISTRATION)
    who = text_of(data, "USER_ID", required=False) or text_of(data, "USER_PHONE_INNER", required=False) or ""
    seed = "|".join((who, text_of(data, "PHONE_NUMBER"), str(data.get("TYPE")), moment))
    return f"externalCall.{hashlib.sha256(seed.encode()).hexdigest()[:32]}"


def parse(provider: Provider, received: Received) -> Parsed:
    event = _event(received)
    if event is not None:
        return _call_start(event)
    data = _body(received)
    extension = text_of(data, "USER_PHONE_INNER", required=False)
    user = text_of(data, "USER_ID", required=False)
    if "STATUS_CODE" in data or "DURATION" in data:
        return _finish(provider, data, extension=extension, user=user)
    kind = str(data.get("TYPE", ""))
    if kind not in TYPES:
        raise invalid(
            f"TYPE: {kind[:10] or 'missing'!r} must be 1 (outgoing), 2 or 3 (incoming) or 4 (callback)", field="TYPE"
        )
    direction = TYPES[kind]
    number = text_of(data, "PHONE_NUMBER")
    line = text_of(data, "LINE_NUMBER", required=False)
    start_text = text_of(data, "CALL_START_DATE", required=False)
    started = local_time(start_text, provider, "CALL_START_DATE") if start_text else datetime.now(UTC)
    call_id = text_of(data, "CALL_ID", required=False) or _registered_call_id(data, started, bool(start_text))
    caller, callee = (number, line or extension) if direction == "inbound" else (extension or line, number)
    fact = CallFact(
        "started",
        call_id,
        started,
        direction=direction,
        caller=caller,
        callee=callee,
        line=line if direction == "inbound" else None,
        extension=extension,
        user=user,
        at_given=bool(start_text),
    )
    return Parsed(
        facts=[fact], result={"result": {"CALL_ID": call_id, "CRM_CREATED_LEAD": None, "CRM_ENTITY_TYPE": None}}
    )


def _finish(provider: Provider, data: dict[str, Any], *, extension: str | None, user: str | None) -> Parsed:
    call_id = text_of(data, "CALL_ID")
    code = text_of(data, "STATUS_CODE", required=False) or ""
    if code not in STATUS:
        raise invalid(
            f"STATUS_CODE: {code[:10] or 'missing'!r} is not a telephony.externalcall.finish status",
            field="STATUS_CODE",
        )
    duration = seconds_of(data, "DURATION")
    end_text = text_of(data, "CALL_END_DATE", required=False)  # not in Bitrix24's finish; some connectors add it
    ended = local_time(end_text, provider, "CALL_END_DATE") if end_text else datetime.now(UTC)
    given = bool(end_text)
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
            user=user,
            at_given=given,
        )
    ]
    if outcome == "answered" and given:
        facts.append(CallFact("answered", call_id, ended - timedelta(seconds=duration), extension=extension, user=user))
    record = text_of(data, "RECORD_URL", required=False, limit=2000)
    if record:
        facts.append(CallFact("recording", call_id, ended, recording_url=record, at_given=given))
    return Parsed(facts=facts)
