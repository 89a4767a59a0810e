"""`zadarma`: Zadarma's PBX notifications, form-encoded, with the `Signature` header.

Events: NOTIFY_START (incoming call enters the PBX), NOTIFY_INTERNAL (rings an extension),
NOTIFY_ANSWER, NOTIFY_END, NOTIFY_OUT_START, NOTIFY_OUT_END, NOTIFY_RECORD. The signature is
base64 of the hex HMAC-SHA1 (PHP's `hash_hmac`) of some of the event's fields with the API
secret; which fields depends on the event. Zadarma checks a notification URL with a GET
carrying `zd_echo`, answered with its value as plain text.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

from crmhub.intake import Received, form_fields, invalid, require_media_type, unauthorized
from crmhub.schemas.calls import Outcome
from telephony.adapters.formats.common import Parsed, field_of, local_time
from telephony.adapters.providers import Provider
from telephony.domain.call import CallFact

SIGNED_FIELDS = {
    "NOTIFY_START": ("caller_id", "called_did", "call_start"),
    "NOTIFY_INTERNAL": ("caller_id", "called_did", "call_start"),
    "NOTIFY_ANSWER": ("caller_id", "destination", "call_start"),
    "NOTIFY_END": ("caller_id", "called_did", "call_start"),
    "NOTIFY_OUT_START": ("internal", "destination", "call_start"),
    "NOTIFY_OUT_END": ("internal", "destination", "call_start"),
    "NOTIFY_RECORD": ("pbx_call_id", "call_id_with_rec"),
}
# `disposition` of NOTIFY_END / NOTIFY_OUT_END
DISPOSITIONS: dict[str, Outcome] = {
    "answered": "answered",
    "busy": "busy",
    "cancel": "cancelled",
    "no answer": "missed",
    "failed": "failed",
    "no money": "failed",
    "unallocated number": "failed",
    "no limit": "failed",
    "no day limit": "failed",
    "line limit": "failed",
    "no money, no limit": "failed",
}


def sign(secret: str, *values: str) -> str:
    digest = hmac.new(secret.encode(), "".join(values).encode(), hashlib.sha1).hexdigest()
    return base64.b64encode(digest.encode()).decode()


def verify(provider: Provider, received: Received) -> None:
    if received.method == "GET":
        return  # the zd_echo check carries no signature
    data = form_fields(received.body, join_repeated=False)
    event = data.get("event", "")
    if event not in SIGNED_FIELDS:
        raise invalid(f"event: {event or 'missing'!r} is not a Zadarma notification")
    secret = provider.resolved_secret()
    given = received.headers.get("signature", "")
    if not secret or not given:
        raise unauthorized("missing Signature header")
    expected = sign(secret, *(data.get(name, "") for name in SIGNED_FIELDS[event]))
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise unauthorized("Signature does not match the notification")


def parse(provider: Provider, received: Received) -> Parsed:
    if received.method == "GET":
        echo = received.query.get("zd_echo")
        if not echo:
            raise invalid("zd_echo: a GET is only the URL check and needs zd_echo")
        return Parsed(reply=(echo[:200], "text/plain"))
    require_media_type(received, "application/x-www-form-urlencoded")
    data: dict[str, Any] = form_fields(received.body, join_repeated=False)
    event = data["event"]
    call_id = field_of(data, "pbx_call_id")
    if event == "NOTIFY_RECORD":
        link = data.get("link") or data.get("call_id_with_rec")
        at = (
            local_time(field_of(data, "call_start"), provider, "call_start")
            if data.get("call_start")
            else datetime.now(UTC)
        )
        return Parsed(facts=[CallFact("recording", call_id, at, recording_url=str(link))])
    start = local_time(field_of(data, "call_start"), provider, "call_start")
    if event == "NOTIFY_START":
        return Parsed(
            facts=[
                CallFact(
                    "started",
                    call_id,
                    start,
                    direction="inbound",
                    caller=data.get("caller_id"),
                    callee=data.get("called_did"),
                    line=data.get("called_did"),
                )
            ]
        )
    if event == "NOTIFY_INTERNAL":
        return Parsed(facts=[CallFact("redirected", call_id, start, seq=1, redirect_to=data.get("internal"))])
    if event == "NOTIFY_ANSWER":
        return Parsed(facts=[CallFact("answered", call_id, start, seq=2, extension=data.get("destination"))])
    if event == "NOTIFY_OUT_START":
        return Parsed(facts=[_outbound_start(call_id, start, data)])
    disposition = str(data.get("disposition", "")).lower()
    outcome = DISPOSITIONS.get(disposition)
    if outcome is None:
        raise invalid(f"disposition: {disposition or 'missing'!r} is not a Zadarma disposition")
    try:
        duration = float(data.get("duration") or 0)
    except ValueError:
        raise invalid("duration must be a number of seconds") from None
    ended = start + timedelta(seconds=duration)
    if event == "NOTIFY_END" and outcome != "answered":
        outcome = "missed"  # whether the client gave up or nobody was free, somebody must call back
    facts = [
        CallFact(
            "ended",
            call_id,
            ended,
            seq=9,
            outcome=outcome,
            talk_seconds=duration if outcome == "answered" else None,
            extension=data.get("internal"),
        )
    ]
    if event == "NOTIFY_OUT_END":
        facts.append(_outbound_start(call_id, start, data))
    else:
        facts.append(
            CallFact(
                "started",
                call_id,
                start,
                direction="inbound",
                caller=data.get("caller_id"),
                callee=data.get("called_did"),
                line=data.get("called_did"),
            )
        )
    return Parsed(facts=facts)


def _outbound_start(call_id: str, start: datetime, data: dict[str, Any]) -> CallFact:
    """NOTIFY_OUT_START and NOTIFY_OUT_END both say who called whom from which extension."""
    caller = data.get("caller_id") or data.get("internal")
    return CallFact(
        "started",
        call_id,
        start,
        direction="outbound",
        caller=caller,
        callee=data.get("destination"),
        extension=data.get("internal"),
    )
