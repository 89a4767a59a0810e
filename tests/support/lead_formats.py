"""Submissions as the lead intake formats receive them, for the format tests."""

from __future__ import annotations

from crmhub.intake import Received
from leads.adapters.formats import FORMATS
from leads.adapters.formats.canonical import LeadInput
from leads.adapters.sources import Source

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"


def source(fmt: str, **extra) -> Source:
    return Source.model_validate({"id": f"s-{fmt}", "format": fmt, "auth": {"secret": "k" * 16}, **extra})


def parse(fmt: str, body: bytes, content_type: str, **extra):
    received = Received(
        method="POST", url="http://hub/v1/intake/s", headers={"content-type": content_type}, query={}, body=body
    )
    parsed = FORMATS[fmt].parse(source(fmt, **extra), received)
    return parsed, (LeadInput.model_validate(parsed.fields) if not parsed.probe else None)
