"""FastAPI dependencies of the telephony routes, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from crmhub.web import ReceivedDep, from_app_state
from telephony.service_layer.context import Telephony

TelephonyDep = Annotated[Telephony, Depends(from_app_state("telephony", Telephony))]

__all__ = ["ReceivedDep", "TelephonyDep"]
