"""FastAPI dependencies of the notifier routes, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from crmhub.web import from_app_state
from notifier.service_layer.context import Notifier

NotifierDep = Annotated[Notifier, Depends(from_app_state("notifier", Notifier))]
