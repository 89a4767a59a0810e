"""Provider requests as the telephony formats receive them, for the format tests."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from crmhub.intake import Received
from telephony.adapters.formats import FORMATS, mango, zadarma
from telephony.adapters.formats.common import Parsed
from telephony.adapters.providers import Provider

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def provider(fmt: str, **extra) -> Provider:
    return Provider.model_validate(
        {
            "id": f"p-{fmt}",
            "format": fmt,
            "secret": "s3cret-value-123",
            "extensions": {"101": "anna", "102": "boris"},
            **extra,
        }
    )


def request(
    body: bytes | str,
    content_type: str = JSON,
    *,
    headers: dict | None = None,
    query: dict | None = None,
    method: str = "POST",
    url: str = "https://hub.example/v1/telephony/p/events",
) -> Received:
    raw = body.encode() if isinstance(body, str) else body
    return Received(
        method=method,
        url=url,
        headers={"content-type": content_type, **(headers or {})},
        query=query or {},
        body=raw,
        client_ip="127.0.0.1",
    )


def run(fmt: str, received: Received, **extra) -> Parsed:
    module = FORMATS[fmt]
    config = provider(fmt, **extra)
    module.verify(config, received)
    return module.parse(config, received)


def zadarma_request(fields: dict[str, str], signed: tuple[str, ...]) -> Received:
    return request(
        urlencode(fields), FORM, headers={"signature": zadarma.sign("s3cret-value-123", *(fields[f] for f in signed))}
    )


def mango_request(payload: dict, event: str) -> Received:
    body = json.dumps(payload)
    return request(
        urlencode(
            {"vpbx_api_key": "mango-key", "sign": mango.sign("mango-key", body, "s3cret-value-123"), "json": body}
        ),
        FORM,
        query={"event": event},
    )
