"""The intake kit: what every webhook intake shares (lead sources, telephony providers, and
the accounting and provider intakes to come).

- `Received`: a request as an intake sees it, independent of the web framework;
- `IntakeError`: one error type with one 4xx rendering (`crmhub.web` turns it into the JSON
  error body), naming the problem and, where there is one, the field;
- body readers (JSON value or object, URL-encoded form) that refuse what they cannot read
  with 400/415/422, never an exception the client sees as 500;
- `check_api_key` and the `t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">` scheme
  (`sign_timestamped` / `verify_timestamped`) the hub both accepts and sends (outgoing webhooks);
- `IntakeFormat`: the typed protocol each provider format implements.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import parse_qsl

MAX_FIELDS = 200


class IntakeError(ValueError):
    """The request is refused: HTTP `status`, a stable `code`, a message naming the problem."""

    def __init__(
        self, status: int, code: str, message: str, *, field: str | None = None, retry_after: int | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.field = field
        self.retry_after = retry_after


def unauthorized(message: str) -> IntakeError:
    return IntakeError(401, "unauthorized", message)


def invalid(message: str, *, field: str | None = None) -> IntakeError:
    return IntakeError(422, "validation_failed", message, field=field)


@dataclass(frozen=True)
class Received:
    """One intake request: headers with lower-case names, the raw body, who sent it."""

    method: str
    url: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes
    client_ip: str = ""

    @property
    def media_type(self) -> str:
        return media_type(self.headers.get("content-type", ""))


def media_type(content_type: str) -> str:
    return content_type.split(";")[0].strip().lower()


def require_media_type(received: Received, *allowed: str) -> None:
    got = received.media_type
    if got not in allowed:
        raise IntakeError(
            415, "unsupported_media_type", f"expected {' or '.join(allowed)}, got {got or 'no Content-Type'!r}"
        )


MAX_JSON_DEPTH = 32
"""No sender's payload nests deeper; a body that does is refused before anything walks it."""


def json_value(body: bytes | str) -> Any:
    try:
        value = json.loads(body)
    except RecursionError:
        raise IntakeError(400, "malformed_json", f"request body nests deeper than {MAX_JSON_DEPTH} levels") from None
    except (ValueError, UnicodeDecodeError):
        raise IntakeError(400, "malformed_json", "request body is not valid JSON") from None
    if _depth(value) > MAX_JSON_DEPTH:
        raise IntakeError(400, "malformed_json", f"request body nests deeper than {MAX_JSON_DEPTH} levels")
    return value


def _depth(value: Any) -> int:
    """How deep arrays and objects nest (without recursion: the input may be hostile)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in node.values())
        elif isinstance(node, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in node)
    return deepest


def json_object(body: bytes | str) -> dict[str, Any]:
    value = json_value(body)
    if not isinstance(value, dict):
        raise invalid("request body must be a JSON object")
    return value


def form_fields(body: bytes, *, join_repeated: bool = True) -> dict[str, str]:
    """URL-encoded form fields; a repeated field is joined with ', ' (or the last one wins)."""
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as exc:
        raise IntakeError(400, "malformed_form", f"request body is not a URL-encoded form: {exc}") from None
    fields: dict[str, str] = {}
    for key, value in pairs:
        fields[key] = f"{fields[key]}, {value}" if join_repeated and key in fields else value
    return fields


def check_api_key(*, secret: str | None, given: str | None, header: str) -> None:
    if not secret:
        raise unauthorized("no secret is configured for this sender")
    if not given:
        raise unauthorized(f"missing API key: send it in the {header} header")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise unauthorized("wrong API key")


def sign_timestamped(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value: t=<unix time>,v1=<hex HMAC-SHA256 of 't.body'>."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify_timestamped(
    header_value: str, *, secret: str, body: bytes, now: datetime, tolerance_seconds: int, header: str
) -> None:
    parts = dict(p.split("=", 1) for p in header_value.split(",") if "=" in p)
    if "t" not in parts or "v1" not in parts or not parts["t"].isdigit() or len(parts["t"]) > 12:
        raise unauthorized(f"missing or malformed {header} header (t=<unix time>,v1=<hex hmac>)")
    timestamp = int(parts["t"])
    if abs(now.timestamp() - timestamp) > tolerance_seconds:
        raise unauthorized(f"signature timestamp is outside the {tolerance_seconds}s window")
    expected = sign_timestamped(secret, timestamp, body).split("v1=", 1)[1]
    if not hmac.compare_digest(parts["v1"].encode(), expected.encode()):
        raise unauthorized("signature does not match the body")


Config = TypeVar("Config", contravariant=True)
Result = TypeVar("Result", covariant=True)


class IntakeFormat(Protocol[Config, Result]):
    """A provider's request format: turns a `Received` into the intake's canonical result, or
    raises IntakeError. `Config` is the sender's configuration (a lead source, a provider)."""

    def parse(self, config: Config, received: Received, /) -> Result: ...
