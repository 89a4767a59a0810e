"""The reference pages stay complete: every event type, topic and setting is documented."""

from __future__ import annotations

from pathlib import Path

import crmhub.schemas  # noqa: F401  (registers every hub event type)
from crmhub import topics
from crmhub.events import EVENT_TYPES
from crmhub.settings import HubSettings

DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_event_type_and_topic_is_documented():
    events = (DOCS / "events.md").read_text()
    hub_types = [t for t in EVENT_TYPES if not t.startswith("test.")]
    assert hub_types
    missing = [t for t in hub_types if f"`{t}`" not in events]
    assert not missing, f"docs/events.md does not describe {missing}"
    assert not [t.name for t in topics.ALL if f"`{t.name}`" not in events]


def test_every_setting_is_documented():
    from localservers import SERVICES
    from support.settings import settings_class

    configuration = (DOCS / "configuration.md").read_text()
    missing = [name.upper() for name in HubSettings.model_fields if f"`{name.upper()}`" not in configuration]
    for service in SERVICES:
        own = set(settings_class(service).model_fields) - set(HubSettings.model_fields)
        missing += [
            f"{service.upper()}_{name.upper()}"
            for name in own
            if f"`{service.upper()}_{name.upper()}`" not in configuration
        ]
    assert not missing, f"docs/configuration.md does not describe {missing}"
