"""`asterisk`: CDR records posted as JSON by a CDR-to-HTTP forwarder (one record, or a list).

Standard Asterisk CDR fields (docs.asterisk.org, "Call Detail Records"): calldate/start, answer,
end (server-local times without a zone: the provider's `timezone` applies), clid, src, dst,
dcontext, channel, dstchannel, duration, billsec, disposition (ANSWERED, NO ANSWER, BUSY,
FAILED, CONGESTION), uniqueid, linkedid, recordingfile; FreePBX adds `did`, the number dialled
from outside. Legs of one call share `linkedid`: they merge into one call, and the extensions
they rang form the redirect chain.

Direction, the way Asterisk users set up their dialplan:
1. both ends in the provider's `extensions` map → internal; the caller in it → outbound; else
2. the dialplan context (`dcontext`): one of `outbound_contexts` (from-internal, …) → outbound,
   or internal when the destination is an internal peer; one of `inbound_contexts` (from-trunk,
   from-pstn, from-did, ext-did, …) → inbound; else
3. the channels: a call whose `channel` is an internal peer (SIP/101-…, PJSIP/101-…: a short
   number) is outbound, else inbound.
The line (for the campaign) of an inbound call is `did` when the CDR has it, else `dst` when it
is not an internal peer.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from crmhub.intake import Received, invalid, json_value, require_media_type
from crmhub.schemas.calls import Direction, Outcome
from telephony.adapters.formats.common import (
    Cdr,
    Parsed,
    cdr_facts,
    check_api_key,
    direction_of,
    internal_peer,
    local_time,
    seconds_of,
    text_of,
)
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


def _direction(cdr: dict[str, Any], provider: Provider, src: str, dst: str) -> Direction:
    return direction_of(
        provider,
        context=text_of(cdr, "dcontext", required=False),
        caller=src,
        callee=dst,
        caller_peer=_extension(text_of(cdr, "channel", required=False)),
    )


def _facts(cdr: dict[str, Any], provider: Provider) -> list[CallFact]:
    call_id = text_of(cdr, "linkedid", required=False) or text_of(cdr, "uniqueid")
    started = local_time(text_of(cdr, "start", required=False) or text_of(cdr, "calldate"), provider, "calldate")
    disposition = (text_of(cdr, "disposition", required=False) or "").upper()
    if disposition not in DISPOSITIONS:
        raise invalid(
            f"disposition: {disposition[:40] or 'missing'!r} is not an Asterisk disposition", field="disposition"
        )
    src, dst = text_of(cdr, "src"), text_of(cdr, "dst")
    direction = _direction(cdr, provider, src, dst)
    channel, dstchannel = text_of(cdr, "channel", required=False), text_of(cdr, "dstchannel", required=False)
    answered_extension = _extension(dstchannel) if direction == "inbound" else _extension(channel) or src
    if answered_extension and not internal_peer(answered_extension, provider):
        answered_extension = None  # a trunk, not a person
    did = text_of(cdr, "did", required=False)
    line = (did or (None if internal_peer(dst, provider) else dst)) if direction == "inbound" else None
    end_text = text_of(cdr, "end", required=False)
    duration, billsec = seconds_of(cdr, "duration"), seconds_of(cdr, "billsec")
    ended = local_time(end_text, provider, "end") if end_text else started + timedelta(seconds=duration)
    outcome = DISPOSITIONS[disposition]
    answer_text = text_of(cdr, "answer", required=False)
    answered = local_time(answer_text, provider, "answer") if answer_text and outcome == "answered" else None
    record = Cdr(
        call_id,
        started,
        ended,
        direction,
        src,
        dst,
        line,
        outcome,
        billsec,
        answered,
        person=answered_extension,
        rang=answered_extension,
        recording_url=text_of(cdr, "recordingfile", required=False, limit=2000),
    )
    return cdr_facts(record)


def parse(provider: Provider, received: Received) -> Parsed:
    require_media_type(received, "application/json")
    body = json_value(received.body)
    records = body if isinstance(body, list) else [body]
    if not records or len(records) > 100 or not all(isinstance(r, dict) for r in records):
        raise invalid("send one CDR object, or a list of 1-100 of them")
    return Parsed(facts=[fact for cdr in records for fact in _facts(cdr, provider)])
