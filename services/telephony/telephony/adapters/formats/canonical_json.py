"""`json`: the hub's canonical call event, one per request.

{"call_id", "event": "started" | "answered" | "ended" | "recording" | "redirected", "at",
 "direction", "caller", "callee", "line", "extension", "outcome", "talk_seconds",
 "recording_url", "redirect_to", "seq"}
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from crmhub.intake import Received, invalid, json_value, require_media_type
from crmhub.moments import Moment
from telephony.adapters.formats.common import Parsed, check_api_key
from telephony.adapters.providers import Provider
from telephony.domain.call import CallFact

Short = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f]+$")
]


class CallEventInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    call_id: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f\x7f]+$")]
    event: Literal["started", "answered", "ended", "recording", "redirected"]
    at: Moment
    direction: Literal["inbound", "outbound", "internal"] | None = None
    caller: Short | None = None
    callee: Short | None = None
    line: Short | None = None
    extension: Short | None = None
    outcome: Literal["answered", "missed", "busy", "failed", "cancelled"] | None = None
    talk_seconds: Annotated[float, Field(ge=0, le=7 * 24 * 3600)] | None = None
    recording_url: Annotated[str, StringConstraints(max_length=2000, pattern=r"^https?://")] | None = None
    redirect_to: Short | None = None
    seq: Annotated[int, Field(ge=0, le=2**62)] = 0


def verify(provider: Provider, received: Received) -> None:
    check_api_key(provider, received)


def parse(provider: Provider, received: Received) -> Parsed:
    require_media_type(received, "application/json")
    try:
        event = CallEventInput.model_validate(json_value(received.body))
    except ValidationError as exc:
        first = exc.errors()[0]
        raise invalid(f"{'.'.join(str(p) for p in first['loc']) or 'body'}: {first['msg']}") from None
    if event.event == "ended" and event.outcome is None:
        raise invalid("outcome: an ended event says how the call ended")
    at: datetime = event.at
    return Parsed(
        facts=[
            CallFact(
                kind=event.event,
                provider_call_id=event.call_id,
                at=at,
                seq=event.seq,
                direction=event.direction,
                caller=event.caller,
                callee=event.callee,
                line=event.line,
                extension=event.extension,
                outcome=event.outcome,
                talk_seconds=event.talk_seconds,
                recording_url=event.recording_url,
                redirect_to=event.redirect_to,
            )
        ]
    )
