"""Checking that a request really comes from its source: API key, the hub's timestamped HMAC
(`t=…,v1=…`, crmhub.intake), or Typeform's signature. Constant-time comparisons throughout;
a refusal is an IntakeError with status 401 and nothing is stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from crmhub.intake import (
    IntakeError,
    Received,
    check_api_key,
    form_fields,
    json_value,
    unauthorized,
    verify_timestamped,
)
from leads.adapters.sources import Source


def sign_typeform(secret: str, body: bytes) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def body_value(received: Received, name: str) -> str | None:
    """A top-level field of a form or JSON object body (where some senders put their key)."""
    try:
        if received.media_type == "application/json":
            data = json_value(received.body)
            value = data.get(name) if isinstance(data, dict) else None
        elif received.media_type == "application/x-www-form-urlencoded":
            value = form_fields(received.body, join_repeated=False).get(name)
        else:
            return None
    except IntakeError:
        return None  # the format will say what is wrong with the body
    return value if isinstance(value, str) else None


def verify(source: Source, received: Received, *, now: datetime) -> None:
    auth = source.auth
    secret = auth.resolved_secret()
    if not secret:
        raise unauthorized(f"source {source.id} has no secret configured")
    if auth.type == "api_key":
        given = (
            received.headers.get(auth.header.lower())
            or (received.query.get(auth.query_param) if auth.query_param else None)
            or (body_value(received, auth.body_field) if auth.body_field else None)
        )
        check_api_key(secret=secret, given=given, header=auth.header)
    elif auth.type == "application_token":
        given = body_value(received, "auth[application_token]")
        if not given:
            raise unauthorized("missing auth[application_token]: Bitrix24 sends it with every event")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            raise unauthorized("auth[application_token] is not the token of this handler")
    elif auth.type == "typeform":
        given = received.headers.get("typeform-signature", "")
        if not given.startswith("sha256="):
            raise unauthorized("missing Typeform-Signature header (sha256=...)")
        if not hmac.compare_digest(given.encode(), sign_typeform(secret, received.body).encode()):
            raise unauthorized("Typeform-Signature does not match the body")
    else:
        header = received.headers.get(auth.signature_header.lower(), "")
        verify_timestamped(
            header,
            secret=secret,
            body=received.body,
            now=now,
            tolerance_seconds=auth.tolerance_seconds,
            header=auth.signature_header,
        )
