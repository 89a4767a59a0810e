"""The short profile of the proving ground (bench/chaos.py, `make chaos` runs the whole of it):
the hub started as `make run` starts it, under a steady load of leads, loses a service and then
the database to SIGKILL; every acknowledged lead is stored and announced once, its assignment is
notified, nothing is delivered twice, and everything is ready again without a manual restart."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import chaos  # noqa: E402


def test_killing_a_service_and_the_database_under_load_loses_and_repeats_nothing(tmp_path):
    phases, checks = asyncio.run(chaos.run(chaos.SHORT, rate=10.0, settle=15.0, workdir=tmp_path))
    report = chaos.table(phases, checks, 10.0)
    assert all(len(p.acknowledged) > 0 for p in phases), report
    assert set(checks["lost"].values()) == {0}, report
    assert set(checks["twice"].values()) == {0}, report
    assert set(checks["not_notified"].values()) == {0}, report
    assert checks["duplicate_deliveries"] == 0, report
    assert not any(checks["mail_copies"].values()), report
    assert all(len(p.calls) > 0 for p in phases), report
    assert set(checks["ready"].values()) == {200}, report
