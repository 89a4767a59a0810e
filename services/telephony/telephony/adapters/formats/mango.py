"""`mango`: Mango Office VPBX notifications, as "API Виртуальной АТС" (Mango Office VPBX API
(mango-office.ru/support/api, its notifications, "Уведомления") documents them.

Every notification is a form post of `vpbx_api_key`, `sign` and `json`; `sign` is the hex
SHA-256 of vpbx_api_key + json + salt. Mango appends the event's path to the URL set in its
panel, so configure `https://<hub>/v1/telephony/<provider>` and it posts to
`…/events/call`, `…/events/summary`, `…/events/recording`, `…/events/dtmf` and so on; the
older `…/events?event=call` form works too.

Used: `call` (call states Appeared, Connected, OnHold, Disconnected, possibly out of order, with
`seq` and `location` — ivr, queue or abonent: only an abonent (a person) answering is an
answer), `summary` (closes the call: `call_direction` 1 inbound, 2 outbound, 0 internal,
`entry_result`, and unix `create_time`, `forward_time`, `talk_time`, `end_time`, where 0 means
"never": a call is answered only when somebody talked) and `recording` (`recording_state`
Completed gives the `recording_id`, fetched later through `/vpbx/queries/recording/post`).
Every other notification (dtmf, sms, callback, record/added, …) is acknowledged with 200 and
ignored: Mango retries anything that is not 2xx.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from crmhub.intake import Received, form_fields, invalid, json_value, require_media_type, unauthorized
from crmhub.schemas.calls import Direction
from telephony.adapters.formats.common import Parsed, RouteAsk, sequence, text_of, unix_time
from telephony.adapters.providers import Provider
from telephony.domain.call import CallFact

DIRECTIONS: dict[int, Direction] = {0: "internal", 1: "inbound", 2: "outbound"}
USED = ("call", "summary", "recording")


def sign(api_key: str, payload: str, salt: str) -> str:
    return hashlib.sha256(f"{api_key}{payload}{salt}".encode()).hexdigest()


def verify(provider: Provider, received: Received) -> None:
    require_media_type(received, "application/x-www-form-urlencoded")
    data = form_fields(received.body, join_repeated=False)
    salt = provider.resolved_secret()
    if not salt or not provider.key:
        raise unauthorized("provider has no vpbx_api_key / salt configured")
    if not hmac.compare_digest(data.get("vpbx_api_key", "").encode(), provider.key.encode()):
        raise unauthorized("wrong vpbx_api_key")
    if not hmac.compare_digest(data.get("sign", "").encode(), sign(provider.key, data.get("json", ""), salt).encode()):
        raise unauthorized("sign does not match vpbx_api_key + json + salt")


def _party(data: dict[str, Any], side: str) -> dict[str, Any]:
    party = data.get(side)
    if party is None:
        return {}
    if not isinstance(party, dict):
        raise invalid(f"{side} must be an object with extension and number", field=side)
    return party


def _moment(data: dict[str, Any], name: str) -> Any:
    """A unix time where Mango writes 0 for "never"."""
    value = data.get(name)
    return None if value in (None, 0, "0", "") else unix_time(value, name)


def event_of(received: Received) -> str:
    """The event: from the path Mango appended (…/events/summary) or `?event=`."""
    return received.query.get("event") or ""


def parse(provider: Provider, received: Received) -> Parsed:
    data = json_value(form_fields(received.body, join_repeated=False).get("json", ""))
    if not isinstance(data, dict):
        raise invalid("json must be an object", field="json")
    kind = event_of(received) or ("summary" if "entry_result" in data else "call")
    if kind not in USED:
        return Parsed()  # dtmf, sms, callback, record/added…: acknowledged, not used
    call_id = text_of(data, "entry_id")
    source, target = _party(data, "from"), _party(data, "to")
    if kind == "summary":
        return Parsed(facts=_summary(call_id, data, source, target))
    if kind == "recording":
        if data.get("recording_state") != "Completed":
            return Parsed()
        return Parsed(
            facts=[
                CallFact(
                    "recording",
                    call_id,
                    unix_time(data.get("timestamp"), "timestamp"),
                    seq=sequence(data.get("seq")),
                    recording_id=text_of(data, "recording_id"),
                )
            ]
        )
    state = data.get("call_state")
    at = unix_time(data.get("timestamp"), "timestamp")
    seq = sequence(data.get("seq"))
    extension = text_of(target, "extension", required=False)
    if state == "Appeared":
        caller, line = text_of(source, "number", required=False), text_of(target, "line_number", required=False)
        in_menu = data.get("location") == "ivr" and not extension
        command_call_id = text_of(data, "call_id", required=False) if in_menu else None
        route = (
            RouteAsk(call_id=call_id, caller=caller, line=line, command_call_id=command_call_id) if in_menu else None
        )
        fact = CallFact(
            "started",
            call_id,
            at,
            seq=seq,
            caller=caller,
            callee=text_of(target, "number", required=False),
            line=line,
            redirect_to=extension,
        )
        return Parsed(facts=[fact], route=route)
    if state == "Connected":
        if data.get("location") != "abonent" or not extension:
            return Parsed()  # the voice menu or a queue took the call: nobody answered yet
        return Parsed(facts=[CallFact("answered", call_id, at, seq=seq, extension=extension)])
    if state in ("OnHold", "Disconnected"):
        return Parsed()  # a leg ending says nothing final: events/summary closes the call
    raise invalid(f"call_state: {str(state)[:40]!r} is not a Mango call state", field="call_state")


def _summary(call_id: str, data: dict[str, Any], source: dict[str, Any], target: dict[str, Any]) -> list[CallFact]:
    try:
        direction: Direction = DIRECTIONS[int(data.get("call_direction", 1))]
    except (TypeError, ValueError, KeyError, OverflowError):
        raise invalid("call_direction must be 0, 1 or 2", field="call_direction") from None
    created = unix_time(data.get("create_time"), "create_time")
    ended = unix_time(data.get("end_time"), "end_time")
    talked = _moment(data, "talk_time")
    extension = text_of(target, "extension", required=False) or text_of(source, "extension", required=False)
    # entry_result 1 only says the call was handled (an IVR counts); a person answered when
    # there was talk time
    answered = str(data.get("entry_result")) == "1" and talked is not None
    facts = [
        CallFact(
            "started",
            call_id,
            created,
            direction=direction,
            caller=text_of(source, "number", required=False),
            callee=text_of(target, "number", required=False),
            line=text_of(data, "line_number", required=False),
        ),
        CallFact(
            "ended",
            call_id,
            ended,
            seq=1_000_000,
            outcome="answered" if answered else "missed",
            talk_seconds=max(0.0, (ended - talked).total_seconds()) if answered and talked else None,
            extension=extension,
        ),
    ]
    if answered and talked is not None:
        facts.append(CallFact("answered", call_id, talked, extension=extension))
    return facts
