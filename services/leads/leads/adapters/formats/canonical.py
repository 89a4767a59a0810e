"""The canonical lead every intake format maps onto (`POST /v1/leads` takes it as it is): the
public input schema, validated here at the edge before the domain normalizes it."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from leads.domain.submission import CustomValue

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]


def _check_custom(value: dict[str, CustomValue]) -> dict[str, CustomValue]:
    for key, item in value.items():
        if not key or len(key) > 64 or key.startswith("$") or "." in key or "\x00" in key:
            raise ValueError(f"custom field name {key[:64]!r} is not allowed (1-64 characters, no '$' prefix, no '.')")
        if isinstance(item, str) and len(item) > 2000:
            raise ValueError(f"custom field {key!r} is longer than 2000 characters")
    return value


class UtmInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: Text | None = None
    medium: Text | None = None
    campaign: Text | None = None
    content: Text | None = None
    term: Text | None = None


class LeadInput(BaseModel):
    """The canonical JSON lead (`POST /v1/leads`, sources of format `json`)."""

    model_config = ConfigDict(extra="forbid")

    name: Text | None = None
    phone: Annotated[str, StringConstraints(max_length=64)] | None = None
    email: Annotated[str, StringConstraints(max_length=254)] | None = None
    message: LongText | None = None
    product: Text | None = None
    region: Text | None = None
    page_url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    utm: UtmInput = UtmInput()
    consent: bool | None = None
    custom: Annotated[dict[str, CustomValue], Field(max_length=50)] = {}
    submission_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None

    @field_validator("custom")
    @classmethod
    def _custom(cls, value: dict[str, CustomValue]) -> dict[str, CustomValue]:
        return _check_custom(value)
