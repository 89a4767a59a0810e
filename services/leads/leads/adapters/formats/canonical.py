"""The canonical lead every intake format maps onto (`POST /v1/leads` takes it as it is): the
public input schema, validated here at the edge before the domain normalizes it."""

from __future__ import annotations

import math
import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, field_validator

from leads.domain.submission import CustomValue

INT64 = (-(2**63), 2**63 - 1)  # what a database document can hold
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _plain_text(value: str) -> str:
    """Text a person typed: no NUL or other control characters (tabs and line breaks are fine)."""
    if _CONTROL.search(value):
        raise ValueError("contains a NUL or another control character")
    return value


Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200), AfterValidator(_plain_text)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000), AfterValidator(_plain_text)]
Raw = Annotated[str, AfterValidator(_plain_text)]


def _check_custom(value: dict[str, CustomValue]) -> dict[str, CustomValue]:
    for key, item in value.items():
        if not key or len(key) > 64 or key.startswith("$") or "." in key or _CONTROL.search(key):
            raise ValueError(f"custom field name {key[:64]!r} is not allowed (1-64 characters, no '$' prefix, no '.')")
        if isinstance(item, str) and len(item) > 2000:
            raise ValueError(f"custom field {key!r} is longer than 2000 characters")
        if isinstance(item, str) and _CONTROL.search(item):
            raise ValueError(f"custom field {key!r} contains a NUL or another control character")
        if isinstance(item, int) and not isinstance(item, bool) and not INT64[0] <= item <= INT64[1]:
            raise ValueError(f"custom field {key!r} is an integer wider than 64 bits; send it as a string")
        if isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"custom field {key!r} is not a finite number (NaN or infinity)")
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
    phone: Annotated[Raw, StringConstraints(max_length=64)] | None = None
    email: Annotated[Raw, StringConstraints(max_length=254)] | None = None
    message: LongText | None = None
    product: Text | None = None
    region: Text | None = None
    page_url: Annotated[Raw, StringConstraints(max_length=2000)] | None = None
    utm: UtmInput = UtmInput()
    consent: bool | None = None
    custom: Annotated[dict[str, CustomValue], Field(max_length=50)] = {}
    submission_id: Annotated[Raw, StringConstraints(min_length=1, max_length=200)] | None = None

    @field_validator("custom")
    @classmethod
    def _custom(cls, value: dict[str, CustomValue]) -> dict[str, CustomValue]:
        return _check_custom(value)
