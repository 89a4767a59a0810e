"""What every telephony format shares: the request as received, the result, errors, helpers."""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

from telephony.adapters.providers import Provider
from telephony.domain.call import CallFact


@dataclass(frozen=True)
class Received:
    method: str
    url: str
    headers: dict[str, str]
    query: dict[str, str]
    body: bytes
    client_ip: str

    @property
    def media_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()


@dataclass(frozen=True)
class Parsed:
    facts: list[CallFact] = field(default_factory=list)
    # A provider check that must be answered as it asks (Zadarma's zd_echo): (body, media type)
    reply: tuple[str, str] | None = None


class Rejected(ValueError):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


def unauthorized(message: str) -> Rejected:
    return Rejected(401, "unauthorized", message)


def invalid(message: str) -> Rejected:
    return Rejected(422, "validation_failed", message)


def require(received: Received, *media_types: str) -> None:
    if received.media_type not in media_types:
        raise Rejected(415, "unsupported_media_type", f"expected {' or '.join(media_types)}, got {received.media_type or 'no Content-Type'!r}")


def form(received: Received) -> dict[str, str]:
    try:
        text = received.body.decode("utf-8")
        return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), max_num_fields=200))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Rejected(400, "malformed_form", f"request body is not a URL-encoded form: {exc}") from None


def json_body(raw: bytes | str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Rejected(400, "malformed_json", "body is not valid JSON") from None


def check_api_key(provider: Provider, received: Received) -> None:
    secret = provider.resolved_secret()
    given = received.headers.get(provider.api_key_header.lower()) or (
        received.query.get(provider.api_key_query_param) if provider.api_key_query_param else None
    )
    if not secret or not given:
        raise unauthorized(f"missing API key: send it in the {provider.api_key_header} header")
    if not hmac.compare_digest(given.encode(), secret.encode()):
        raise unauthorized("wrong API key")


def field_of(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None or value == "":
        raise invalid(f"{name} is missing")
    if not isinstance(value, str | int):
        raise invalid(f"{name} must be a string")
    return str(value)


def local_time(value: str, provider: Provider, name: str) -> datetime:
    """A provider time: with an offset as given, without one in the provider's zone (Asterisk writes server-local times)."""
    try:
        moment = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    except ValueError:
        raise invalid(f"{name}: {value!r} is not a date and time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(provider.timezone))
    return moment.astimezone(UTC)


def unix_time(value: Any, name: str) -> datetime:
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise invalid(f"{name}: {value!r} is not a unix time") from None
