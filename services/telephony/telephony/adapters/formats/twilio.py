"""`twilio`: Twilio status callbacks (form-encoded), checked by `X-Twilio-Signature`:
base64 of HMAC-SHA1 with the auth token over the full URL Twilio called followed by every POST
parameter, sorted by name, as name+value.

CallStatus: queued, initiated, ringing, in-progress, completed, busy, failed, no-answer,
canceled; Direction: inbound, outbound-api, outbound-dial; CallDuration on completion;
RecordingUrl on recording callbacks; SequenceNumber orders a call's callbacks.

Twilio sends status callbacks with POST (form body) or, when `StatusCallbackMethod` is GET, with
GET: the parameters are then in the query string and the signature covers the URL alone
(twilio.com/docs/usage/webhooks/webhooks-security: "If your request is a GET, … the full URL
including the query string").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

from crmhub.intake import Received, form_fields, invalid, require_media_type, unauthorized
from crmhub.moments import plausible
from crmhub.schemas.calls import Outcome
from telephony.adapters.formats.common import Parsed, field_of, seconds_of, sequence, text_of
from telephony.adapters.providers import Provider
from telephony.domain.call import CallFact

FINAL: dict[str, Outcome] = {
    "completed": "answered",
    "busy": "busy",
    "failed": "failed",
    "no-answer": "missed",
    "canceled": "cancelled",
}


def signature(token: str, url: str, params: dict[str, str]) -> str:
    payload = url + "".join(f"{k}{params[k]}" for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), payload.encode(), hashlib.sha1).digest()).decode()


def _signed_url(provider: Provider, received: Received) -> str:
    if not provider.public_url:
        return received.url
    query = urlsplit(received.url).query
    return f"{provider.public_url}?{query}" if received.method == "GET" and query else provider.public_url


def _params(received: Received) -> dict[str, str]:
    """The callback's parameters: the form body of a POST, the query string of a GET."""
    if received.method == "GET":
        return dict(received.query)
    require_media_type(received, "application/x-www-form-urlencoded")
    return dict(form_fields(received.body, join_repeated=False))


def verify(provider: Provider, received: Received) -> None:
    params = _params(received)
    token = provider.resolved_secret()
    given = received.headers.get("x-twilio-signature", "")
    if not token or not given:
        raise unauthorized("missing X-Twilio-Signature header")
    signed = {} if received.method == "GET" else params
    if not hmac.compare_digest(given.encode(), signature(token, _signed_url(provider, received), signed).encode()):
        raise unauthorized("X-Twilio-Signature does not match the URL and parameters")


def parse(provider: Provider, received: Received) -> Parsed:
    data = _params(received)
    call_id = field_of(data, "CallSid")
    try:
        at = parsedate_to_datetime(data["Timestamp"]) if data.get("Timestamp") else datetime.now(UTC)
        at = plausible(at).astimezone(UTC)
    except (TypeError, ValueError, OverflowError):
        raise invalid("Timestamp is malformed or out of range (1970 … 2200)") from None
    seq = sequence(data.get("SequenceNumber"), "SequenceNumber")
    direction = "inbound" if data.get("Direction", "inbound") == "inbound" else "outbound"
    given = bool(data.get("Timestamp"))  # without it the moment is the arrival: a redelivery is the same fact
    parties = {
        "at_given": given,
        "direction": direction,
        "caller": text_of(data, "From", required=False) or text_of(data, "Caller", required=False),
        "callee": text_of(data, "To", required=False) or text_of(data, "Called", required=False),
    }
    if direction == "inbound":
        parties["line"] = parties["callee"]
    recording = text_of(data, "RecordingUrl", required=False, limit=2000)
    if recording:
        return Parsed(facts=[CallFact("recording", call_id, at, seq=seq, recording_url=recording, at_given=given)])
    status = data.get("CallStatus", "")
    if status in ("queued", "initiated", "ringing"):
        return Parsed(facts=[CallFact("started", call_id, at, seq=seq, **parties)])  # type: ignore[arg-type]
    if status == "in-progress":
        return Parsed(facts=[CallFact("answered", call_id, at, seq=seq, **parties)])  # type: ignore[arg-type]
    if status not in FINAL:
        raise invalid(f"CallStatus: {status[:40]!r} is not a Twilio call status", field="CallStatus")
    duration = seconds_of(data, "CallDuration")
    outcome = FINAL[status]
    if direction == "inbound" and outcome != "answered":
        outcome = "missed"
    facts = [
        CallFact(
            "ended",
            call_id,
            at,
            seq=seq,
            outcome=outcome,
            talk_seconds=duration if outcome == "answered" else None,
            **parties,  # type: ignore[arg-type]
        )
    ]
    facts.append(CallFact("started", call_id, at - timedelta(seconds=duration), seq=0, **parties))  # type: ignore[arg-type]
    return Parsed(facts=facts)
