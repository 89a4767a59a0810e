"""`freeswitch`: FreeSWITCH's HTTP CDR posts, from mod_json_cdr or mod_xml_cdr (one per call leg,
at hangup).

As their documentation describes them (developer.signalwire.com/freeswitch: "mod_json_cdr",
"mod_xml_cdr", "CDR"): a JSON document, or `cdr=<document>` form-encoded (the modules' default
`encode`), or base64 of it; with `encode-values` (the default) each value is URL-encoded. The
document has `variables` (uuid, call_uuid, direction, caller_id_number, destination_number,
start_epoch, answer_epoch, end_epoch, duration, billsec, hangup_cause, dialed_user,
last_bridge_to, …) and `callflow` (caller_profile: caller_id_number, destination_number,
context). Legs of one call share the a-leg's uuid (`call_uuid` / `originating_leg_uuid`).
Authentication: the modules' `cred` (HTTP Basic, `<key>:<secret>` of the provider), or the
provider's API key header.

Direction as the dialplan says it (docs/telephony.md): the context the call entered — `public`
(from trunks) is inbound, `default` (registered phones) outbound or internal.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any
from urllib.parse import unquote

from defusedxml import ElementTree
from defusedxml.common import DefusedXmlException

from crmhub.intake import IntakeError, Received, form_fields, invalid, json_value, unauthorized
from crmhub.schemas.calls import Outcome
from telephony.adapters.formats.common import (
    Cdr,
    Parsed,
    cdr_facts,
    check_api_key,
    direction_of,
    internal_peer,
    seconds_of,
    text_of,
    unix_time,
)
from telephony.adapters.providers import Provider

CAUSES: dict[str, Outcome] = {
    "USER_BUSY": "busy",
    "NO_ANSWER": "missed",
    "NO_USER_RESPONSE": "missed",
    "ALLOTTED_TIMEOUT": "missed",
    "ORIGINATOR_CANCEL": "cancelled",
    "CALL_REJECTED": "missed",
    "LOSE_RACE": "cancelled",
    "PICKED_OFF": "cancelled",
}
MAX_DOCUMENT = 512 * 1024


def verify(provider: Provider, received: Received) -> None:
    given = received.headers.get("authorization", "")
    if not given.lower().startswith("basic "):
        check_api_key(provider, received)
        return
    try:
        user, _, password = base64.b64decode(given[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise unauthorized("malformed Basic credentials") from None
    secret = provider.resolved_secret()
    if not (secret and provider.key):
        raise unauthorized("provider has no key and secret for Basic credentials")
    if not (
        hmac.compare_digest(user.encode(), provider.key.encode())
        and hmac.compare_digest(password.encode(), secret.encode())
    ):
        raise unauthorized("wrong Basic credentials")


def _document(received: Received) -> str:
    if received.media_type == "application/x-www-form-urlencoded":
        text = form_fields(received.body, join_repeated=False).get("cdr", "")
    else:
        try:
            text = received.body.decode("utf-8")
        except UnicodeDecodeError:
            raise IntakeError(400, "malformed_body", "the CDR is not UTF-8 text") from None
    text = text.strip()
    if text and text[0] not in "{<":
        try:
            text = base64.b64decode(text, validate=True).decode("utf-8").strip()  # encode=base64
        except (binascii.Error, UnicodeDecodeError):
            raise IntakeError(400, "malformed_body", "the CDR is neither JSON, XML nor base64 of them") from None
    if not text:
        raise invalid("cdr: no CDR document", field="cdr")
    if len(text) > MAX_DOCUMENT:
        raise IntakeError(413, "too_large", "the CDR document is larger than 512 KiB")
    return text


def _from_xml(text: str) -> dict[str, Any]:
    try:
        root = ElementTree.fromstring(text)
    except (ElementTree.ParseError, DefusedXmlException):
        raise IntakeError(400, "malformed_xml", "the CDR is not well-formed (or safe) XML") from None
    variables = {child.tag: child.text or "" for child in root.findall("variables/*")}
    profile = {child.tag: child.text or "" for child in root.findall("callflow/caller_profile/*") if len(child) == 0}
    return {"variables": variables, "callflow": [{"caller_profile": profile}] if profile else []}


def _cdr(received: Received) -> dict[str, Any]:
    text = _document(received)
    document = json_value(text.encode()) if text.startswith("{") else _from_xml(text)
    if not isinstance(document, dict):
        raise invalid("the CDR must be an object")
    return document


def _decoded(section: Any, name: str) -> dict[str, Any]:
    if section is None:
        return {}
    if not isinstance(section, dict):
        raise invalid(f"{name} must be an object", field=name)
    return {k: unquote(v) if isinstance(v, str) else v for k, v in section.items()}


def parse(provider: Provider, received: Received) -> Parsed:
    cdr = _cdr(received)
    variables = _decoded(cdr.get("variables"), "variables")
    callflow = cdr.get("callflow")
    first = callflow[0] if isinstance(callflow, list) and callflow else callflow if isinstance(callflow, dict) else {}
    profile = _decoded(first.get("caller_profile") if isinstance(first, dict) else None, "callflow.caller_profile")
    call_id = (
        text_of(variables, "originating_leg_uuid", required=False)
        or text_of(variables, "call_uuid", required=False)
        or text_of(variables, "uuid")
    )
    caller = text_of(profile, "caller_id_number", required=False) or text_of(variables, "caller_id_number")
    callee = text_of(profile, "destination_number", required=False) or text_of(variables, "destination_number")
    context = text_of(profile, "context", required=False) or text_of(variables, "context", required=False)
    direction = direction_of(
        provider,
        context=context,
        caller=caller,
        callee=callee,
        caller_peer=text_of(variables, "user_name", required=False),
    )
    started = unix_time(variables.get("start_epoch"), "start_epoch")
    answer_epoch = variables.get("answer_epoch")
    answered = None if answer_epoch in (None, "", "0", 0) else unix_time(answer_epoch, "answer_epoch")
    ended = unix_time(variables.get("end_epoch"), "end_epoch")
    billsec = seconds_of(variables, "billsec")
    seconds_of(variables, "duration")  # checked: a CDR with an absurd duration is refused whole
    cause = (text_of(variables, "hangup_cause", required=False) or "").upper()
    outcome: Outcome = "answered" if answered is not None else CAUSES.get(cause, "failed")
    reached = (
        text_of(variables, "dialed_user", required=False)
        or text_of(variables, "dialed_extension", required=False)
        or (callee if internal_peer(callee, provider) else None)
    )
    person = reached if direction == "inbound" else caller if internal_peer(caller, provider) else None
    line = callee if direction == "inbound" and not internal_peer(callee, provider) else None
    record = Cdr(call_id, started, ended, direction, caller, callee, line, outcome, billsec, answered, person, reached)
    return Parsed(facts=cdr_facts(record))
