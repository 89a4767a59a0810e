"""`asterisk`: CDR records posted as JSON by a CDR-to-HTTP forwarder (one record, or a list).

Standard Asterisk CDR fields: calldate/start, answer, end (server-local times without a zone:
the provider's `timezone` applies), clid, src, dst, dcontext, channel, dstchannel, duration,
billsec, disposition (ANSWERED, NO ANSWER, BUSY, FAILED, CONGESTION), uniqueid, linkedid,
recordingfile. Legs of one call share `linkedid`: they merge into one call, and the
extensions they rang form the redirect chain.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from crmhub.intake import Received, invalid, json_value, require_media_type
from crmhub.schemas.calls import Direction, Outcome
from telephony.adapters.formats.common import Parsed, check_api_key, field_of, local_time
from telephony.adapters.providers import Provider
from telephony.domain.call import CallFact

DISPOSITIONS: dict[str, Outcome] = {
    "ANSWERED": "answered",
    "NO ANSWER": "missed",
    "BUSY": "busy",
    "FAILED": "failed",
    "CONGESTION": "failed",
}
_CHANNEL_EXTENSION = re.compile(r"^[A-Za-z0-9]+/([^-@]+)")


def verify(provider: Provider, received: Received) -> None:
    check_api_key(provider, received)


def _extension(channel: str | None) -> str | None:
    match = _CHANNEL_EXTENSION.match(channel or "")
    return match.group(1) if match else None


def _facts(cdr: dict[str, Any], provider: Provider) -> list[CallFact]:
    call_id = str(cdr.get("linkedid") or field_of(cdr, "uniqueid"))
    started = local_time(str(cdr.get("start") or field_of(cdr, "calldate")), provider, "calldate")
    disposition = str(cdr.get("disposition", "")).upper()
    if disposition not in DISPOSITIONS:
        raise invalid(f"disposition: {disposition or 'missing'!r} is not an Asterisk disposition")
    src, dst = field_of(cdr, "src"), field_of(cdr, "dst")
    src_internal, dst_internal = src in provider.extensions, dst in provider.extensions
    direction: Direction = "internal" if src_internal and dst_internal else "outbound" if src_internal else "inbound"
    answered_extension = _extension(cdr.get("dstchannel")) if direction == "inbound" else _extension(cdr.get("channel"))
    end_text = cdr.get("end")
    try:
        duration = float(cdr.get("duration") or 0)
        billsec = float(cdr.get("billsec") or 0)
    except (TypeError, ValueError):
        raise invalid("duration and billsec must be numbers of seconds") from None
    ended = local_time(str(end_text), provider, "end") if end_text else started + timedelta(seconds=duration)
    outcome = DISPOSITIONS[disposition]
    facts = [
        CallFact(
            "started",
            call_id,
            started,
            direction=direction,
            caller=src,
            callee=dst,
            line=dst if direction == "inbound" else None,
        ),
        CallFact(
            "ended",
            call_id,
            ended,
            outcome=outcome,
            talk_seconds=billsec if outcome == "answered" else None,
            extension=answered_extension,
        ),
    ]
    if cdr.get("answer") and outcome == "answered":
        facts.append(
            CallFact(
                "answered", call_id, local_time(str(cdr["answer"]), provider, "answer"), extension=answered_extension
            )
        )
    if answered_extension and direction == "inbound":
        facts.append(CallFact("redirected", call_id, started, redirect_to=answered_extension))
    if cdr.get("recordingfile"):
        facts.append(CallFact("recording", call_id, ended, recording_url=str(cdr["recordingfile"])))
    return facts


def parse(provider: Provider, received: Received) -> Parsed:
    require_media_type(received, "application/json")
    body = json_value(received.body)
    records = body if isinstance(body, list) else [body]
    if not records or len(records) > 100 or not all(isinstance(r, dict) for r in records):
        raise invalid("send one CDR object, or a list of 1-100 of them")
    return Parsed(facts=[fact for cdr in records for fact in _facts(cdr, provider)])
