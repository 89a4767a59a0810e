"""Fixtures for the whole suite.

Integration and end-to-end tests run against a real Apache Kafka broker and a real
MongoDB-wire server. They are started once per test session on free ports (or taken from
KAFKA_BOOTSTRAP_SERVERS / MONGODB_URL); when that is impossible the tests fail with the reason
— they never skip.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from crmhub import topics
from crmhub.kafka import ensure_topics
from crmhub.mongo import Document
from crmhub.schemas.team import Department, Manager
from localservers import ProvisioningError, RunningServer, free_port, start_kafka, start_mongo, start_service
from support.team import publish_team
from support.tokens import ADMIN, ADMIN_DEPARTMENT, TokenMint, activate


@dataclass(frozen=True)
class Infra:
    kafka: str
    mongo: str
    servers: tuple[RunningServer, ...]


@pytest.fixture(scope="session")
def infra(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Infra]:
    kafka = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "")
    mongo = os.environ.get("MONGODB_URL", "")
    started: list[RunningServer] = []
    base = tmp_path_factory.mktemp("servers")
    try:
        if not kafka:
            server = start_kafka(base / "kafka")
            started.append(server)
            kafka = server.address
        if not mongo:
            server = start_mongo(base / "mongo")
            started.append(server)
            mongo = server.address
        asyncio.run(ensure_topics(kafka, topics.ALL))
        asyncio.run(_publish_test_admin(kafka))
    except ProvisioningError as exc:
        for server in started:
            server.stop()
        pytest.fail(f"the real servers these tests need could not be started: {exc}", pytrace=False)
    yield Infra(kafka, mongo, tuple(started))
    for server in reversed(started):
        server.stop()


async def _publish_test_admin(kafka: str) -> None:
    """The person the tests' admin tokens name, in the team directory every service reads."""
    department = Department(id=ADMIN_DEPARTMENT, name="Tests", region="Tests")
    admin = Manager(
        id=ADMIN,
        name="Test administrator",
        department_id=ADMIN_DEPARTMENT,
        email="test-admin@example.com",
        working_hours={},
    )
    await publish_team(kafka, [department], [admin])


@pytest.fixture(scope="session")
def mint() -> Iterator[TokenMint]:
    """Signs the tests' access tokens; every service process of the suite trusts it."""
    minted = TokenMint()
    os.environ.update(minted.env())  # inherited by the processes the tests start
    activate(minted)
    yield minted
    minted.stop()


@pytest.fixture(autouse=True, scope="session")
def _tokens_everywhere(mint: TokenMint) -> None:
    """Make sure the mint exists before any service process starts."""


@pytest.fixture
def unique() -> str:
    """A short id that keeps one test's data apart from every other test's."""
    return uuid.uuid4().hex[:10]


@pytest.fixture
async def mongo_client(infra: Infra) -> AsyncIterator[AsyncMongoClient[Document]]:
    client: AsyncMongoClient[Document] = AsyncMongoClient(infra.mongo, tz_aware=True, serverSelectionTimeoutMS=5000)
    yield client
    await client.close()


@pytest.fixture
def service_env(infra: Infra, unique: str) -> Callable[[str], dict[str, str]]:
    """Environment for one service process of this test: real servers, its own database."""

    def env(name: str) -> dict[str, str]:
        prefix = name.upper()
        return {
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
            "MONGODB_URL": infra.mongo,
            f"{prefix}_MONGODB_DATABASE": f"t_{name}_{unique}",
            f"{prefix}_ENVIRONMENT": "test",
            f"{prefix}_LOG_LEVEL": "INFO",
            f"{prefix}_OUTBOX_POLL_SECONDS": "0.2",
        }

    return env


@pytest.fixture
def run_service(tmp_path: Path, service_env: Callable[[str], dict[str, str]]) -> Iterator[Callable[..., RunningServer]]:
    """Start hub services as real processes (`python -m <name>`); all are stopped after the test."""
    running: list[RunningServer] = []

    def run(name: str, **extra_env: str) -> RunningServer:
        try:
            server = start_service(
                name,
                env={**service_env(name), **extra_env},
                port=free_port(),
                log_path=tmp_path / f"{name}-{len(running)}.log",
                python=sys.executable,
            )
        except ProvisioningError as exc:
            pytest.fail(str(exc), pytrace=False)
        running.append(server)
        return server

    yield run
    for server in reversed(running):
        server.stop()


ROOT = Path(__file__).resolve().parent.parent
TEST_PYTHONPATH = os.pathsep.join(str(ROOT / p) for p in ("shared", "tests", "deploy/local"))


@pytest.fixture
def probe(infra: Infra, tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Run the backbone probe (tests/support/probe.py) as its own process."""

    processes: list[subprocess.Popen[str]] = []

    def start(mode: str, db: str, *args: str) -> subprocess.Popen[str]:
        log = (tmp_path / f"probe-{len(processes)}.log").open("w")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "support.probe",
                mode,
                "--kafka",
                infra.kafka,
                "--mongo",
                infra.mongo,
                "--db",
                db,
                *args,
            ],
            env={**os.environ, "PYTHONPATH": TEST_PYTHONPATH},
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        processes.append(process)
        return process

    yield start
    for process in processes:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
