"""The routing table from JSON: the one shipped with the notifier (`notifier/routing.json`) unless
NOTIFIER_ROUTING_FILE names another. A file that does not parse stops the notifier at start."""

from __future__ import annotations

import json
from pathlib import Path

from notifier.domain.routing import Route, RoutingError, parse_routes

ROUTING_FILE = Path(__file__).resolve().parent.parent / "routing.json"


def load_routes(path: str | Path | None = None) -> tuple[Route, ...]:
    source = Path(path) if path else ROUTING_FILE
    try:
        raw = json.loads(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RoutingError(f"routing file {source}: {exc.strerror}") from None
    except ValueError as exc:
        raise RoutingError(f"routing file {source} is not JSON: {exc}") from None
    try:
        return parse_routes(raw)
    except RoutingError as exc:
        raise RoutingError(f"routing file {source}: {exc}") from None


SHIPPED_ROUTES: tuple[Route, ...] = load_routes()
