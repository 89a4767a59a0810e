"""The local server tooling behind make run, make test and make bench."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration


def test_kafka_cluster_ids_are_passed_so_a_leading_dash_is_not_an_option(tmp_path, monkeypatch):
    import localservers

    monkeypatch.setattr(localservers, "_kafka_cluster_id", lambda: "-starts-with-a-dash-0")
    server = localservers.start_kafka(tmp_path / "kafka", timeout=120)
    try:
        assert "cluster.id=-starts-with-a-dash-0" in (tmp_path / "kafka" / "log" / "meta.properties").read_text()
    finally:
        server.stop()
