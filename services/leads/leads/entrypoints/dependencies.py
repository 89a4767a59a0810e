"""FastAPI dependencies of the leads routes, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from crmhub.web import ReceivedDep
from leads.service_layer.context import Leads


def _leads(request: Request) -> Leads:
    deps: Leads = request.app.state.leads
    return deps


LeadsDep = Annotated[Leads, Depends(_leads)]

__all__ = ["LeadsDep", "ReceivedDep"]
