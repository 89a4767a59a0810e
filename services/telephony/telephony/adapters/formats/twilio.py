"""`twilio`: Twilio status callbacks (form-encoded), checked by `X-Twilio-Signature`:
base64 of HMAC-SHA1 with the auth token over the full URL Twilio called followed by every POST
parameter, sorted by name, as name+value.

CallStatus: queued, initiated, ringing, in-progress, completed, busy, failed, no-answer,
canceled; Direction: inbound, outbound-api, outbound-dial; CallDuration on completion;
RecordingUrl on recording callbacks; SequenceNumber orders a call's callbacks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from crmhub.intake import Received, form_fields, invalid, require_media_type, unauthorized
from crmhub.moments import plausible
from crmhub.schemas.calls import Outcome
from telephony.adapters.formats.common import Parsed, field_of, sequence
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


def verify(provider: Provider, received: Received) -> None:
    require_media_type(received, "application/x-www-form-urlencoded")
    token = provider.resolved_secret()
    given = received.headers.get("x-twilio-signature", "")
    if not token or not given:
        raise unauthorized("missing X-Twilio-Signature header")
    url = provider.public_url or received.url
    if not hmac.compare_digest(
        given.encode(), signature(token, url, form_fields(received.body, join_repeated=False)).encode()
    ):
        raise unauthorized("X-Twilio-Signature does not match the URL and parameters")


def parse(provider: Provider, received: Received) -> Parsed:
    data = form_fields(received.body, join_repeated=False)
    call_id = field_of(data, "CallSid")
    try:
        at = parsedate_to_datetime(data["Timestamp"]) if data.get("Timestamp") else datetime.now(UTC)
        at = plausible(at).astimezone(UTC)
    except (TypeError, ValueError, OverflowError):
        raise invalid("Timestamp is malformed or out of range (1970 … 2200)") from None
    seq = sequence(data.get("SequenceNumber"), "SequenceNumber")
    direction = "inbound" if data.get("Direction", "inbound") == "inbound" else "outbound"
    parties = {
        "direction": direction,
        "caller": data.get("From") or data.get("Caller"),
        "callee": data.get("To") or data.get("Called"),
    }
    if direction == "inbound":
        parties["line"] = data.get("To") or data.get("Called")
    if data.get("RecordingUrl"):
        return Parsed(facts=[CallFact("recording", call_id, at, seq=seq, recording_url=data["RecordingUrl"])])
    status = data.get("CallStatus", "")
    if status in ("queued", "initiated", "ringing"):
        return Parsed(facts=[CallFact("started", call_id, at, seq=seq, **parties)])  # type: ignore[arg-type]
    if status == "in-progress":
        return Parsed(facts=[CallFact("answered", call_id, at, seq=seq, **parties)])  # type: ignore[arg-type]
    if status not in FINAL:
        raise invalid(f"CallStatus: {status!r} is not a Twilio call status")
    duration = float(data.get("CallDuration") or 0)
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
