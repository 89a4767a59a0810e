from __future__ import annotations

import pytest

from support.hub import LeadsHub


@pytest.fixture(scope="module")
def hub(infra, tmp_path_factory):
    """One motivation + leads pair for a test module, with its own team and sources."""
    running = LeadsHub(infra.kafka, infra.mongo, tmp_path_factory.mktemp("leads-hub")).start()
    yield running
    running.stop()
