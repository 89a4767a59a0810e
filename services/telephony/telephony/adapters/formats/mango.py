"""`mango`: Mango Office VPBX notifications `events/call` and `events/summary`.

Form fields `vpbx_api_key`, `sign`, `json`; `sign` is the hex SHA-256 of
vpbx_api_key + json + salt. `events/call` reports call states (Appeared, Connected, OnHold,
Disconnected) that may arrive out of order and carry `seq`; `events/summary` closes the call
with `call_direction` (1 inbound, 2 outbound, 0 internal), `entry_result` (1 answered,
0 missed), and unix `create_time`, `forward_time`, `talk_time`, `end_time`.
The endpoint is /v1/telephony/{provider}/events; the event kind comes from `?event=call` or
`?event=summary` (or the path Mango appends, configured as such).
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from crmhub.intake import Received, form_fields, invalid, json_value, require_media_type, unauthorized
from crmhub.schemas.calls import Direction
from telephony.adapters.formats.common import Parsed, sequence, unix_time
from telephony.adapters.providers import Provider
from telephony.domain.call import CallFact

DIRECTIONS: dict[int, Direction] = {0: "internal", 1: "inbound", 2: "outbound"}


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
    return party if isinstance(party, dict) else {}


def parse(provider: Provider, received: Received) -> Parsed:
    data = json_value(form_fields(received.body, join_repeated=False).get("json", ""))
    if not isinstance(data, dict):
        raise invalid("json must be an object")
    kind = received.query.get("event") or ("summary" if "entry_result" in data else "call")
    entry = data.get("entry_id")
    if not entry:
        raise invalid("entry_id is missing")
    call_id = str(entry)
    source, target = _party(data, "from"), _party(data, "to")
    if kind == "summary":
        try:
            direction: Direction = DIRECTIONS.get(int(data.get("call_direction", 1)), "inbound")
        except (TypeError, ValueError):
            raise invalid("call_direction must be 0, 1 or 2") from None
        created = unix_time(data.get("create_time"), "create_time")
        ended = unix_time(data.get("end_time"), "end_time")
        answered = str(data.get("entry_result")) == "1"
        facts = [
            CallFact(
                "started",
                call_id,
                created,
                direction=direction,
                caller=source.get("number"),
                callee=target.get("number"),
                line=data.get("line_number"),
            ),
            CallFact(
                "ended",
                call_id,
                ended,
                seq=1_000_000,
                outcome="answered" if answered else "missed",
                extension=target.get("extension") or source.get("extension"),
            ),
        ]
        if answered and data.get("talk_time"):
            facts.append(
                CallFact(
                    "answered",
                    call_id,
                    unix_time(data["talk_time"], "talk_time"),
                    extension=target.get("extension") or source.get("extension"),
                )
            )
        return Parsed(facts=facts)
    state = data.get("call_state")
    at = unix_time(data.get("timestamp"), "timestamp")
    seq = sequence(data.get("seq"))
    extension = target.get("extension")
    if state == "Appeared":
        fact = CallFact(
            "started",
            call_id,
            at,
            seq=seq,
            caller=source.get("number"),
            callee=target.get("number"),
            line=target.get("line_number"),
            redirect_to=extension,
        )
    elif state == "Connected":
        fact = CallFact("answered", call_id, at, seq=seq, extension=extension)
    elif state in ("OnHold", "Disconnected"):
        return Parsed(facts=[])  # a leg ending says nothing final: events/summary closes the call
    else:
        raise invalid(f"call_state: {state!r} is not a Mango call state")
    return Parsed(facts=[fact])
