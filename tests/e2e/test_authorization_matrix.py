"""The authorization matrix, generated from each service's route table: every route has exactly
one access policy (or is marked public), and every route x caller gets what its policy says —
anonymous, expired and forged tokens 401, a role or scope the policy does not name 403, one it
names gets through (to the route's own answer). A new route without a policy fails here."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from crmhub.access import Policy, Public
from crmhub.schemas.team import (
    SCOPES,
    ApiToken,
    ApiTokenUpserted,
    Department,
    DepartmentUpserted,
    Manager,
    ManagerUpserted,
)
from support.routes import BUILDERS, api_routes
from support.tokens import TokenMint

pytestmark = pytest.mark.integration

PEOPLE = {"admin": "mx-admin", "head": "mx-head", "manager": "mx-manager", "accounting": "mx-accounting"}


def _guards(route: APIRoute) -> list[Any]:
    found, stack = [], list(route.dependant.dependencies)
    while stack:
        dependency = stack.pop()
        if isinstance(dependency.call, Policy | Public):
            found.append(dependency.call)
        stack.extend(dependency.dependencies)
    return found


def _path(route: APIRoute, subject: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: subject if m.group(1) == "manager_id" else "x-1", route.path)


def _build(name: str, infra, unique: str) -> FastAPI:
    app = BUILDERS[name](
        {
            "kafka_bootstrap_servers": infra.kafka,
            "mongodb_url": infra.mongo,
            "mongodb_database": f"t_matrix_{name}_{unique}",
            "environment": "test",
        }
    )
    directory = app.state.verifier.directory
    directory.apply(
        DepartmentUpserted(change="created", version=1, department=Department(id="mx-dept", name="D", region="R"))
    )
    for subject in PEOPLE.values():
        person = Manager(id=subject, name=subject, department_id="mx-dept", email=f"{subject}@example.com")
        directory.apply(ManagerUpserted(change="created", version=1, manager=person))
    integration = ApiToken(
        id="integration-x", name="Matrix", scopes=list(SCOPES), expires_at=datetime.now(UTC) + timedelta(days=1)
    )
    directory.apply(ApiTokenUpserted(version=1, api_token=integration))
    return app


async def _call(app: FastAPI, route: APIRoute, headers: dict[str, str], subject: str) -> int:
    method = sorted(route.methods)[0]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://hub", timeout=30) as http:
        kwargs: dict[str, Any] = {"json": {}} if method in ("POST", "PUT", "PATCH") else {}
        return (await http.request(method, _path(route, subject), headers=headers, **kwargs)).status_code


@pytest.mark.parametrize("service", list(BUILDERS))
async def test_every_route_has_a_policy_and_each_caller_gets_what_it_says(service, infra, mint: TokenMint, unique):
    app = _build(service, infra, unique)
    other = TokenMint()  # a key nobody trusts
    results: dict[str, dict[str, int]] = {}
    try:
        for route in api_routes(app.routes):
            guards = _guards(route)
            assert len(guards) == 1, (
                f"{service} {route.methods} {route.path} needs exactly one access policy, has {guards}"
            )
            guard = guards[0]
            if isinstance(guard, Public):
                continue
            row = results.setdefault(f"{sorted(route.methods)[0]} {route.path}", {})
            row["anonymous"] = await _call(app, route, {}, "nobody")
            row["expired"] = await _call(
                app, route, mint.headers(PEOPLE["admin"], ("admin",), lifetime=-600), PEOPLE["admin"]
            )
            row["forged"] = await _call(app, route, other.headers(PEOPLE["admin"], ("admin",)), PEOPLE["admin"])
            assert (row["anonymous"], row["expired"], row["forged"]) == (401, 401, 401), (route.path, row)
            for role, subject in PEOPLE.items():
                row[role] = await _call(app, route, mint.headers(subject, (role,), department_id="mx-dept"), subject)
                if role in guard.roles:
                    assert row[role] not in (401, 403), f"{role} is allowed {route.path} but got {row[role]}"
                else:
                    assert row[role] == 403, f"{role} is not allowed {route.path} but got {row[role]}"
            bare = mint.headers("integration-x", (), kind="integration")
            row["integration"] = await _call(app, route, bare, "integration-x")
            assert row["integration"] == 403, (route.path, row)
            if guard.scopes:
                scoped = mint.headers("integration-x", (), kind="integration", scope=" ".join(guard.scopes))
                row["integration+scope"] = await _call(app, route, scoped, "integration-x")
                assert row["integration+scope"] not in (401, 403), (route.path, row)
    finally:
        other.stop()
    assert results or service == "deals", f"{service} has no protected route?"
