"""Finding a service's settings class by the service's name."""

from __future__ import annotations

import importlib

from crmhub.settings import HubSettings


def settings_class(service: str) -> type[HubSettings]:
    module = importlib.import_module(f"{service}.settings")
    classes = [
        v for v in vars(module).values() if isinstance(v, type) and issubclass(v, HubSettings) and v is not HubSettings
    ]
    assert len(classes) == 1, f"{service}.settings should define one settings class"
    return classes[0]
