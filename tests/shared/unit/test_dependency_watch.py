"""Outages as states: one line when a dependency goes, one when it is back (with how long), a
gauge meanwhile; and a process whose own client is stuck while a new connection works is
wedged, which /health reports so a liveness probe restarts it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import httpx
from fastapi import FastAPI
from prometheus_client import REGISTRY

from crmhub.dependencies import DependencyWatch
from crmhub.web import add_operational_routes

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def _gauge(name: str) -> float | None:
    return REGISTRY.get_sample_value("crmhub_dependency_up", {"dependency": name})


def test_an_outage_is_told_once_when_it_starts_and_once_when_it_ends(caplog):
    watch = DependencyWatch("kafka-test")
    caplog.set_level(logging.WARNING, logger="crmhub.dependencies")
    watch.observe(ours=True, fresh=None, now=T0)
    for second in range(0, 60, 5):
        watch.observe(ours=False, fresh=False, now=T0 + timedelta(seconds=second), detail="broker unreachable")
    assert _gauge("kafka-test") == 0
    watch.observe(ours=True, fresh=None, now=T0 + timedelta(seconds=61))
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "kafka-test unavailable: broker unreachable",
        "kafka-test is back after 61 s unavailable (12 failed checks)",
    ]
    assert _gauge("kafka-test") == 1


def test_a_database_that_is_down_is_not_a_wedged_process_but_a_stuck_client_is():
    watch = DependencyWatch("mongodb-test", wedged_after=timedelta(seconds=30))
    for second in range(0, 120, 5):  # the database is down: nobody reaches it
        watch.observe(ours=False, fresh=False, now=T0 + timedelta(seconds=second))
    assert not watch.wedged(T0 + timedelta(seconds=120))
    for second in range(120, 145, 5):  # it is back for a new connection, not for ours
        watch.observe(ours=False, fresh=True, now=T0 + timedelta(seconds=second))
    assert not watch.wedged(T0 + timedelta(seconds=145))
    watch.observe(ours=False, fresh=True, now=T0 + timedelta(seconds=150))
    assert watch.wedged(T0 + timedelta(seconds=150))
    watch.observe(ours=True, fresh=None, now=T0 + timedelta(seconds=155))
    assert not watch.wedged(T0 + timedelta(seconds=155))


async def test_health_fails_while_the_process_is_wedged():
    why: list[str | None] = [None]

    async def public() -> None:
        return None

    app = FastAPI()
    add_operational_routes(app, service="s", checks={}, asyncapi=lambda: None, public=public, wedged=lambda: why[0])  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://hub") as client:
        assert (await client.get("/health")).status_code == 200
        why[0] = "stuck"
        answer = await client.get("/health")
    assert (answer.status_code, answer.json()["status"], answer.json()["detail"]) == (503, "wedged", "stuck")
