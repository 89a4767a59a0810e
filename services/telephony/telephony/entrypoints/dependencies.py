"""FastAPI dependencies of the telephony routes, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from crmhub.web import ReceivedDep
from telephony.service_layer.context import Telephony


def _telephony(request: Request) -> Telephony:
    deps: Telephony = request.app.state.telephony
    return deps


TelephonyDep = Annotated[Telephony, Depends(_telephony)]

__all__ = ["ReceivedDep", "TelephonyDep"]
