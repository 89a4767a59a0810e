"""`zadarma`: Zadarma's PBX notifications, form-encoded, with the `Signature` header.

Events: NOTIFY_START (incoming call enters the PBX), NOTIFY_INTERNAL (rings an extension),
NOTIFY_ANSWER, NOTIFY_END, NOTIFY_OUT_START, NOTIFY_OUT_END, NOTIFY_RECORD. The signature is
base64 of the hex HMAC-SHA1 (PHP's `hash_hmac`) of some of the event's fields with the API
secret; which fields depends on the event. Zadarma checks a notification URL with a GET
carrying `zd_echo`, answered with its value as plain text.

Fields and signatures as Zadarma documents them (zadarma.com/en/support/api/#api_webhooks, and
its PHP SDK github.com/zadarma/user-api-v1, lib/Webhook/*.php). NOTIFY_ANSWER carries no answer
time (`call_start` is the call's start), so the answer is stamped when it arrives. NOTIFY_RECORD
(and NOTIFY_END / NOTIFY_OUT_END with `is_recorded` 1) give `call_id_with_rec`, the recording's
id: the hub fetches a fresh link through the documented API method `GET /v1/pbx/record/request/`
when somebody asks for the recording (links expire).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

from crmhub.intake import Received, form_fields, invalid, require_media_type, unauthorized
from crmhub.schemas.calls import Outcome
from telephony.adapters.formats.common import Parsed, RouteAsk, field_of, local_time, seconds_of, text_of
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
        recording = field_of(data, "call_id_with_rec")
        return Parsed(facts=[CallFact("recording", call_id, datetime.now(UTC), recording_id=recording, at_given=False)])
    start = local_time(field_of(data, "call_start"), provider, "call_start")
    if event == "NOTIFY_START":
        caller, did = text_of(data, "caller_id", required=False), text_of(data, "called_did", required=False)
        return Parsed(
            route=RouteAsk(call_id=call_id, caller=caller, line=did),
            facts=[
                CallFact(
                    "started",
                    call_id,
                    start,
                    direction="inbound",
                    caller=text_of(data, "caller_id", required=False),
                    callee=text_of(data, "called_did", required=False),
                    line=text_of(data, "called_did", required=False),
                )
            ],
        )
    if event == "NOTIFY_INTERNAL":
        return Parsed(
            facts=[CallFact("redirected", call_id, start, seq=1, redirect_to=text_of(data, "internal", required=False))]
        )
    if event == "NOTIFY_ANSWER":
        # no answer time in the notification: it is when it arrives (a redelivery is the same fact)
        answered_by = text_of(data, "internal", required=False) or text_of(data, "destination", required=False)
        return Parsed(
            facts=[CallFact("answered", call_id, datetime.now(UTC), seq=2, extension=answered_by, at_given=False)]
        )
    if event == "NOTIFY_OUT_START":
        return Parsed(facts=[_outbound_start(call_id, start, data)])
    disposition = str(data.get("disposition", "")).lower()
    outcome = DISPOSITIONS.get(disposition)
    if outcome is None:
        raise invalid(
            f"disposition: {disposition[:40] or 'missing'!r} is not a Zadarma disposition", field="disposition"
        )
    duration = seconds_of(data, "duration")
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
            extension=text_of(data, "internal", required=False),
        )
    ]
    if str(data.get("is_recorded")) == "1" and data.get("call_id_with_rec"):
        facts.append(CallFact("recording", call_id, ended, recording_id=field_of(data, "call_id_with_rec")))
    if event == "NOTIFY_OUT_END":
        facts.append(_outbound_start(call_id, start, data))
    else:
        facts.append(
            CallFact(
                "started",
                call_id,
                start,
                direction="inbound",
                caller=text_of(data, "caller_id", required=False),
                callee=text_of(data, "called_did", required=False),
                line=text_of(data, "called_did", required=False),
            )
        )
    return Parsed(facts=facts)


def _outbound_start(call_id: str, start: datetime, data: dict[str, Any]) -> CallFact:
    """NOTIFY_OUT_START and NOTIFY_OUT_END both say who called whom from which extension."""
    internal = text_of(data, "internal", required=False)
    return CallFact(
        "started",
        call_id,
        start,
        direction="outbound",
        caller=text_of(data, "caller_id", required=False) or internal,
        callee=text_of(data, "destination", required=False),
        extension=internal,
    )
