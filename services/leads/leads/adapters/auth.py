"""Checking that a request really comes from its source: API key, Stripe-style HMAC with a
timestamp window, or Typeform's signature. Constant-time comparisons throughout."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

from leads.adapters.sources import Source


class Unauthorized(Exception):
    """The request does not prove it comes from the source (HTTP 401, nothing stored)."""


def sign_hmac(secret: str, timestamp: int, body: bytes) -> str:
    """The `X-Signature` value a sender computes: t=<unix time>,v1=<hex HMAC-SHA256 of 't.body'>."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def sign_typeform(secret: str, body: bytes) -> str:
    return "sha256=" + base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def verify(source: Source, *, headers: Mapping[str, str], query: Mapping[str, str], body: bytes, now: datetime) -> None:
    auth = source.auth
    secret = auth.resolved_secret()
    if not secret:
        raise Unauthorized(f"source {source.id} has no secret configured")
    if auth.type == "api_key":
        given = headers.get(auth.header.lower()) or (query.get(auth.query_param) if auth.query_param else None)
        if not given:
            raise Unauthorized(f"missing API key: send it in the {auth.header} header")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            raise Unauthorized("wrong API key")
    elif auth.type == "typeform":
        given = headers.get("typeform-signature", "")
        if not given.startswith("sha256="):
            raise Unauthorized("missing Typeform-Signature header (sha256=...)")
        if not hmac.compare_digest(given.encode(), sign_typeform(secret, body).encode()):
            raise Unauthorized("Typeform-Signature does not match the body")
    else:
        header = headers.get(auth.signature_header.lower(), "")
        parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
        if "t" not in parts or "v1" not in parts or not parts["t"].isdigit():
            raise Unauthorized(f"missing or malformed {auth.signature_header} header (t=<unix time>,v1=<hex hmac>)")
        timestamp = int(parts["t"])
        if abs(now.timestamp() - timestamp) > auth.tolerance_seconds:
            raise Unauthorized(f"signature timestamp is outside the {auth.tolerance_seconds}s window")
        expected = sign_hmac(secret, timestamp, body).split("v1=", 1)[1]
        if not hmac.compare_digest(parts["v1"].encode(), expected.encode()):
            raise Unauthorized("signature does not match the body")
