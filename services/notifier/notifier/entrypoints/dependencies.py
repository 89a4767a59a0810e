"""FastAPI dependencies of the notifier routes, as `Annotated` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from notifier.service_layer.context import Notifier


def _notifier(request: Request) -> Notifier:
    deps: Notifier = request.app.state.notifier
    return deps


NotifierDep = Annotated[Notifier, Depends(_notifier)]
