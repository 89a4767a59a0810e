"""The leads service's use cases in memory: one `json` source with a department pool, and a
form submission to it as the HTTP edge hands it over."""

from __future__ import annotations

import json
from typing import Any

from crmhub.intake import Received
from leads.adapters.sources import SourcesConfig
from leads.service_layer import intake

KEY = "site-key-0123456789"
SOURCES = SourcesConfig.model_validate(
    {
        "sources": [
            {
                "id": "site",
                "format": "json",
                "auth": {"secret": KEY},
                "sla_minutes": 15,
                "assignment": {"pool": {"department_id": "sales"}},
            }
        ]
    }
)


def form(body: dict[str, Any], *, key: str = KEY, **headers: str) -> Received:
    return Received(
        "POST",
        "http://hub/v1/leads",
        {"content-type": "application/json", "x-api-key": key, **headers},
        {},
        json.dumps(body).encode(),
        "127.0.0.1",
    )


async def submit(deps: Any, body: dict[str, Any], **headers: str) -> intake.Taken:
    return await intake.take_in(deps, deps.sources.by_id("site"), form(body, **headers))
