"""Moments the hub takes from outside (intake times, query ranges) must be plausible: an
aware date and time between 1970 and 2200. `9999-12-31T23:59:59-14:00` cannot even be turned
into UTC, and a year 0001 or 9999 is a mistake or an attack, never a call or a lead."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime

EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


def plausible(value: datetime) -> datetime:
    """The moment, if it lies between 1970 and 2200 (ValueError naming the range otherwise)."""
    try:
        moment = value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValueError("is out of range: a moment between 1970 and 2200 is expected") from None
    if not EARLIEST <= moment < LATEST:
        raise ValueError("is out of range: a moment between 1970 and 2200 is expected")
    return value


Moment = Annotated[AwareDatetime, AfterValidator(plausible)]
