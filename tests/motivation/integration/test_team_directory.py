"""The team directory end to end: REST on the motivation service process -> events on the
compacted topic crm.team -> a read model in another process converges; bad input is refused
with a 4xx and stores nothing."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from localservers import free_port, start_service
from support.kafka import eventually, headers_of, read_topic
from support.tokens import admin_headers

pytestmark = pytest.mark.integration


def _department(unique: str, **extra):
    return {"id": f"sales-{unique}", "name": "Отдел продаж", "region": "Moscow", "timezone": "Europe/Moscow", **extra}


def _manager(unique: str, suffix: str = "anna", **extra):
    return {
        "id": f"{suffix}-{unique}",
        "name": "Анна 👩‍💼 Смирнова",
        "department_id": f"sales-{unique}",
        "email": f"{suffix}.{unique}@Example.com",
        "phone": "+7 916 000-00-01",
        "working_hours": {"mon": [{"start": "09:00", "end": "18:00"}], "sat": [{"start": "10:00", "end": "00:00"}]},
        "absences": [{"kind": "vacation", "start": "2026-12-28T00:00:00+03:00", "end": "2027-01-09T00:00:00+03:00"}],
        "capacity": 25,
        **extra,
    }


def _snapshot(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


async def test_changes_reach_crm_team_and_a_read_model_in_another_process(infra, run_service, probe, unique, tmp_path):
    motivation = run_service("motivation")
    live = tmp_path / "live.json"
    probe("follow", "", "--out", str(live))
    async with httpx.AsyncClient(base_url=motivation.address, timeout=10, headers=admin_headers()) as http:
        assert (await http.post("/v1/team/departments", json=_department(unique))).status_code == 201
        created = await http.post("/v1/team/managers", json=_manager(unique))
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["email"] == f"anna.{unique}@example.com"
        assert body["phone"] == "+79160000001"
        assert body["version"] == 1
        changed = await http.patch(
            f"/v1/team/managers/anna-{unique}", json={"capacity": 5, "telegram_chat_id": "123456"}
        )
        assert changed.status_code == 200
        assert changed.json()["version"] == 2
        deactivated = await http.post(f"/v1/team/managers/anna-{unique}/deactivate")
        assert deactivated.json()["active"] is False
        assert deactivated.json()["version"] == 3
        again = await http.post(f"/v1/team/managers/anna-{unique}/deactivate")
        assert again.json()["version"] == 3, "repeating a change is harmless: no new version, no event"
        head = await http.patch(f"/v1/team/departments/sales-{unique}", json={"head_manager_id": f"anna-{unique}"})
        assert head.status_code == 200
        fetched = await http.get(f"/v1/team/managers/anna-{unique}")
        assert fetched.json()["capacity"] == 5
        listed = await http.get("/v1/team/managers", params={"department_id": f"sales-{unique}", "active": "false"})
        assert [m["id"] for m in listed.json()["items"]] == [f"anna-{unique}"]

    key = f"manager:anna-{unique}".encode()
    records = await read_topic(infra.kafka, "crm.team", until=lambda rs: sum(r.key == key for r in rs) >= 3)
    mine = [r for r in records if r.key == key]
    assert len(mine) == 3
    assert [json.loads(r.value)["change"] for r in mine] == ["created", "updated", "deactivated"]
    assert [json.loads(r.value)["version"] for r in mine] == [1, 2, 3]
    for record in mine:
        headers = headers_of(record)
        assert headers["ce_type"] == "team.manager.upserted"
        assert headers["ce_source"] == "/crm/motivation"
        assert headers["ce_subject"] == f"manager:anna-{unique}"
        assert headers["ce_id"]
        assert headers["ce_time"]

    def live_model_converged():
        manager = _snapshot(live).get("managers", {}).get(f"anna-{unique}")
        department = _snapshot(live).get("departments", {}).get(f"sales-{unique}")
        return (
            manager
            and manager["version"] == 3
            and not manager["active"]
            and department
            and department["head_manager_id"] == f"anna-{unique}"
        )

    await eventually(live_model_converged, timeout=60)

    # A process that starts later rebuilds the same directory from the compacted topic alone.
    late = tmp_path / "late.json"
    probe("follow", "", "--out", str(late))
    await eventually(lambda: _snapshot(late).get("caught_up"), timeout=60)
    assert _snapshot(late)["managers"][f"anna-{unique}"] == _snapshot(live)["managers"][f"anna-{unique}"]


BAD_MANAGER_REQUESTS = [
    (
        "malformed JSON",
        {"content": b'{"id": "x",', "headers": {"content-type": "application/json"}},
        400,
        "malformed_json",
    ),
    (
        "not JSON at all",
        {"content": b"id=x&name=y", "headers": {"content-type": "application/x-www-form-urlencoded"}},
        415,
        "unsupported_media_type",
    ),
    ("JSON array", {"json": [1, 2]}, 422, "validation_failed"),
    ("wrong type", {"json_patch": {"capacity": "lots"}}, 422, "capacity"),
    ("unknown field", {"json_patch": {"salary_bonus": 1}}, 422, "salary_bonus"),
    ("operator as id", {"json_patch": {"id": {"$gt": ""}}}, 422, "id"),
    ("operator as email", {"json_patch": {"email": {"$ne": None}}}, 422, "email"),
    ("$where as name", {"json_patch": {"name": {"$where": "sleep(1000)"}}}, 422, "name"),
    ("operator key in working hours", {"json_patch": {"working_hours": {"$where": []}}}, 422, "working_hours"),
    ("dotted id", {"json_patch": {"id": "a.$b"}}, 422, "id"),
    ("10,000-character name", {"json_patch": {"name": "Я" * 10_000}}, 422, "name"),
    ("missing fields", {"json": {"id": "lonely"}}, 422, "department_id"),
    ("bad e-mail", {"json_patch": {"email": "anna-at-example"}}, 422, "email"),
    ("bad phone", {"json_patch": {"phone": "12"}}, 422, "phone"),
    (
        "bad time zone in absence",
        {
            "json_patch": {
                "absences": [{"kind": "vacation", "start": "2026-01-01T00:00:00", "end": "2026-01-02T00:00:00"}]
            }
        },
        422,
        "absences",
    ),
    ("unknown department", {"json_patch": {"department_id": "nowhere"}}, 422, "department_id"),
    ("oversize body", {"json_patch": {"name": "x" * 300_000}}, 413, "body_too_large"),
]


@pytest.fixture(scope="module")
def motivation_for_bad_input(infra, tmp_path_factory):
    """One service for the whole matrix: none of the requests may store anything in it."""
    unique = uuid.uuid4().hex[:10]
    database = f"t_badinput_{unique}"
    server = start_service(
        "motivation",
        env={
            "KAFKA_BOOTSTRAP_SERVERS": infra.kafka,
            "MONGODB_URL": infra.mongo,
            "MOTIVATION_MONGODB_DATABASE": database,
        },
        port=free_port(),
        log_path=tmp_path_factory.mktemp("bad-input") / "motivation.log",
        python=sys.executable,
    )
    httpx.post(
        f"{server.address}/v1/team/departments", json=_department(unique), timeout=10, headers=admin_headers()
    ).raise_for_status()
    yield server, unique, database
    server.stop()


@pytest.mark.parametrize(
    ("case", "request_kwargs", "status", "mentions"), BAD_MANAGER_REQUESTS, ids=[c[0] for c in BAD_MANAGER_REQUESTS]
)
async def test_bad_input_is_refused_naming_the_problem_and_stores_nothing(
    motivation_for_bad_input, mongo_client, case, request_kwargs, status, mentions
):
    motivation, unique, database = motivation_for_bad_input
    kwargs = dict(request_kwargs)
    if "json_patch" in kwargs:
        kwargs["json"] = {**_manager(unique, suffix="bad"), **kwargs.pop("json_patch")}
    async with httpx.AsyncClient(base_url=motivation.address, timeout=10, headers=admin_headers()) as http:
        response = await http.post("/v1/team/managers", **kwargs)
        assert response.status_code == status, response.text
        assert mentions in response.text
        assert response.headers["content-type"].startswith("application/json")
        assert (await http.get("/health")).status_code == 200
        assert (await http.get("/v1/team/managers")).json()["total"] == 0
    assert await mongo_client[database]["managers"].count_documents({}) == 0


async def test_conflicts_and_unknown_ids(infra, run_service, unique):
    motivation = run_service("motivation")
    async with httpx.AsyncClient(base_url=motivation.address, timeout=10, headers=admin_headers()) as http:
        assert (await http.post("/v1/team/departments", json=_department(unique))).status_code == 201
        duplicate_department = await http.post("/v1/team/departments", json=_department(unique))
        assert duplicate_department.status_code == 409
        assert duplicate_department.json()["field"] == "id"
        assert (await http.post("/v1/team/managers", json=_manager(unique))).status_code == 201
        same_email = await http.post(
            "/v1/team/managers", json=_manager(unique, suffix="boris", email=f"ANNA.{unique}@example.com")
        )
        assert same_email.status_code == 409
        assert same_email.json()["field"] == "email"
        assert (await http.post("/v1/team/managers", json=_manager(unique, suffix="boris"))).status_code == 201
        steal_email = await http.patch(
            f"/v1/team/managers/boris-{unique}", json={"email": f"anna.{unique}@example.com"}
        )
        assert steal_email.status_code == 409
        assert (await http.get("/v1/team/managers/nobody")).status_code == 404
        assert (await http.patch("/v1/team/departments/nowhere", json={"name": "X"})).status_code == 404
        assert (await http.post("/v1/team/managers/nobody/deactivate")).status_code == 404
        assert (await http.get("/v1/team/managers/$gt")).status_code == 422
        assert (
            await http.patch(f"/v1/team/departments/sales-{unique}", json={"head_manager_id": "ghost"})
        ).status_code == 422
        assert (await http.get("/v1/team/managers", params={"active": "sometimes"})).status_code == 422
        assert (await http.get("/v1/team/managers", params={"limit": 100000})).status_code == 422
        listed = await http.get("/v1/team/managers", params={"limit": 1, "offset": 1})
        assert listed.json()["total"] == 2
        assert [m["id"] for m in listed.json()["items"]] == [f"boris-{unique}"]
