"""Checking that a request really comes from its source: API key, the hub's timestamped HMAC
(`t=…,v1=…`, crmhub.intake), or Typeform's signature. Constant-time comparisons throughout;
a refusal is an IntakeError with status 401 and nothing is stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime

from crmhub.intake import Received, check_api_key, unauthorized, verify_timestamped
from leads.adapters.sources import Source


def sign_typeform(secret: str, body: bytes) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(source: Source, received: Received, *, now: datetime) -> None:
    auth = source.auth
    secret = auth.resolved_secret()
    if not secret:
        raise unauthorized(f"source {source.id} has no secret configured")
    if auth.type == "api_key":
        given = received.headers.get(auth.header.lower()) or (
            received.query.get(auth.query_param) if auth.query_param else None
        )
        check_api_key(secret=secret, given=given, header=auth.header)
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
