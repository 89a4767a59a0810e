"""FastAPI dependencies of the leads routes, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from crmhub.web import ReceivedDep, from_app_state
from leads.service_layer.context import Leads

LeadsDep = Annotated[Leads, Depends(from_app_state("leads", Leads))]

__all__ = ["LeadsDep", "ReceivedDep"]
