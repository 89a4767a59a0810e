"""Each service's app built in-process from settings, and its route table (nothing is started
by building one)."""

from __future__ import annotations

from typing import Any

from fastapi.routing import APIRoute

import deals.app
import leads.app
import motivation.app
import notifier.app
import telephony.app
from deals.settings import DealsSettings
from leads.settings import LeadsSettings
from motivation.settings import MotivationSettings
from notifier.settings import NotifierSettings
from telephony.settings import TelephonySettings

BUILDERS = {
    "leads": lambda s: leads.app.build_app(LeadsSettings(**s)),
    "telephony": lambda s: telephony.app.build_app(TelephonySettings(**s)),
    "deals": lambda s: deals.app.build_app(DealsSettings(**s)),
    "motivation": lambda s: motivation.app.build_app(MotivationSettings(**s)),
    "notifier": lambda s: notifier.app.build_app(NotifierSettings(**s)),
}


def api_routes(routes: list[Any]) -> list[APIRoute]:
    """Every API route, also those inside included routers (FastAPI keeps those as branches)."""
    found: list[APIRoute] = []
    for route in routes:
        if isinstance(route, APIRoute):
            found.append(route)
        elif hasattr(route, "original_router"):
            found += api_routes(route.original_router.routes)
    return found
