"""Plans, counters, payouts and the month close, with the motivation service as a real process
against the real Kafka and MongoDB-wire servers: events counted once in the manager's time
zone, an unknown manager's events parked and counted later, plans validated, payouts explained,
a close that is idempotent and freezes the month, late events as adjustments of the next one,
reopen and CSV, and the realism checks on several closed months."""

from __future__ import annotations

import csv
import io
import json
import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from crmhub import topics
from crmhub.schemas.calls import CallCompleted, CallRecord
from crmhub.schemas.deals import DealActivityRecorded, DealSummary
from crmhub.schemas.team import Department
from support.kafka import eventually, headers_of, publish, read_topic
from support.team import manager, publish_team
from support.tokens import admin_headers, person_headers

pytestmark = pytest.mark.integration


def call(manager_id: str, at: str, direction: str = "outbound") -> CallCompleted:
    return CallCompleted(
        call=CallRecord(
            call_id=f"c-{uuid.uuid4().hex[:8]}",
            provider_id="pbx",
            provider_call_id="x",
            direction=direction,  # type: ignore[arg-type]
            caller="+74950000000",
            callee="+79160000000",
            manager_id=manager_id,
            started_at=at,  # type: ignore[arg-type]
            outcome="answered",
        )
    )


def activity(manager_id: str, kind: str, at: str, amount: str | None = None) -> DealActivityRecorded:
    deal = DealSummary(
        deal_id=f"deal-{uuid.uuid4().hex[:10]}",
        title="x",
        pipeline_id="client_service",
        stage="invoice",
        manager_id=manager_id,
        department_id=None,
    )
    return DealActivityRecorded(
        deal=deal,
        activity_id="a1",
        kind=kind,  # type: ignore[arg-type]
        manager_id=manager_id,
        department_id=None,
        happened_at=at,  # type: ignore[arg-type]
        amount=Decimal(amount) if amount else None,
    )


PLAN = {
    "activity": [
        {"kpi": "outgoing_calls", "target": 2, "weight": "0.5"},
        {"kpi": "meetings_held", "target": 1, "weight": "0.5"},
    ],
    "sales_target": "1000",
}


@pytest.fixture
def unique_team(unique):
    return {
        "sales": f"s-{unique}",
        "other": f"o-{unique}",
        "anna": f"anna-{unique}",
        "boris": f"boris-{unique}",
        "head": f"head-{unique}",
        "late": f"late-{unique}",
        "accountant": f"acc-{unique}",
    }


async def test_counting_once_in_the_managers_time_zone_and_parking_unknown_managers(infra, run_service, unique_team):
    t = unique_team
    moscow = Department(id=t["sales"], name="S", region="Moscow", timezone="Europe/Moscow", head_manager_id=t["head"])
    await publish_team(infra.kafka, [moscow], [manager(t["anna"], t["sales"]), manager(t["head"], t["sales"])])
    motivation = run_service("motivation", MOTIVATION_PARKED_RETRY_SECONDS="0.5")
    admin = admin_headers()
    # 21:30 UTC on 31 October is 00:30 on 1 November in Moscow: a November call; delivered twice
    event_id = str(uuid.uuid4())
    for _ in range(2):
        await publish(infra.kafka, call(t["anna"], "2026-10-31T21:30:00Z"), "c", event_id=event_id)
    await publish(infra.kafka, call(t["late"], "2026-11-02T10:00:00Z"), "c")  # a manager nobody knows yet
    # a marker on the same partition (same key): once it is counted, the copy before it was consumed
    await publish(infra.kafka, call(t["anna"], "2026-11-03T10:00:00Z"), "c")
    async with httpx.AsyncClient(base_url=motivation.address, timeout=10, headers=admin) as http:

        async def funnel(day: str, who: str) -> dict[str, Any]:
            answer = await http.get("/v1/funnel", params={"from": day, "to": day, "manager_id": who})
            return answer.json()["total"]

        await eventually(lambda: _outgoing(funnel("2026-11-03", t["anna"])), timeout=20)
        assert (await funnel("2026-11-01", t["anna"]))["outgoing_calls"] == 1
        assert (await funnel("2026-10-31", t["anna"]))["outgoing_calls"] == 0

        async def parked() -> list[dict[str, Any]]:
            return (await http.get("/v1/counters/parked")).json()["items"]

        await eventually(parked, timeout=20)
        assert [p["manager_id"] for p in await parked()] == [t["late"]]
        await publish_team(infra.kafka, [moscow], [manager(t["late"], t["sales"])])
        await eventually(lambda: _outgoing(funnel("2026-11-02", t["late"])), timeout=20)
        assert await parked() == []


async def test_a_period_document_takes_each_count_and_days_counted_before_the_upgrade_still_add_up(
    infra, run_service, mongo_client, unique, unique_team
):
    """An event is one write: its period's document holds the period's totals and each day's. A
    store from before kept days in documents of their own, and a period start day may have been
    different then (5 November in the period of October): the funnel adds up all of them."""
    t = unique_team
    anna = t["anna"]
    db = mongo_client[f"t_motivation_{unique}"]
    await db["counters"].insert_many(
        [
            {"_id": f"day:2026-11-05:{anna}", "manager_id": anna, "day": "2026-11-05", "kpis": {"outgoing_calls": 2}},
            {"_id": f"month:2026-11:{anna}", "manager_id": anna, "period": "2026-11", "kpis": {"outgoing_calls": 2}},
            {
                "_id": f"month:2026-10:{anna}",
                "manager_id": anna,
                "period": "2026-10",
                "kpis": {"outgoing_calls": 5},
                "days": {"2026-11-05": {"kpis": {"outgoing_calls": 5}}},
            },
        ]
    )
    moscow = Department(id=t["sales"], name="S", region="Moscow", timezone="Europe/Moscow", head_manager_id=t["head"])
    await publish_team(infra.kafka, [moscow], [manager(anna, t["sales"]), manager(t["head"], t["sales"])])
    motivation = run_service("motivation")
    await publish(infra.kafka, call(anna, "2026-11-05T10:00:00Z"), "c")
    await publish(infra.kafka, call(anna, "2026-11-06T10:00:00Z"), "c")
    async with httpx.AsyncClient(base_url=motivation.address, timeout=10, headers=admin_headers()) as http:

        async def funnel(start: str, end: str) -> dict[str, Any]:
            answer = await http.get("/v1/funnel", params={"from": start, "to": end, "manager_id": anna})
            return answer.json()["total"]

        await eventually(lambda: _outgoing(funnel("2026-11-06", "2026-11-06")), timeout=20)
        assert (await funnel("2026-11-05", "2026-11-05"))["outgoing_calls"] == 2 + 5 + 1
        assert (await funnel("2026-11-05", "2026-11-06"))["outgoing_calls"] == 2 + 5 + 1 + 1
        november = await db["counters"].find_one({"_id": f"month:2026-11:{anna}"})
        assert november["kpis"]["outgoing_calls"] == 2 + 2
        assert november["days"] == {
            "2026-11-05": {"kpis": {"outgoing_calls": 1}},
            "2026-11-06": {"kpis": {"outgoing_calls": 1}},
        }
        assert await db["counters"].find_one({"_id": f"day:2026-11-06:{anna}"}) is None
        assert (await db["counters"].find_one({"_id": f"day:2026-11-05:{anna}"}))["kpis"] == {"outgoing_calls": 2}


async def _outgoing(total: Any) -> int:
    return int((await total)["outgoing_calls"])


async def test_plans_payouts_close_adjustments_reopen_and_export(infra, run_service, unique_team):
    t = unique_team
    sales = Department(id=t["sales"], name="S", region="Moscow", timezone="Europe/Moscow", head_manager_id=t["head"])
    other = Department(id=t["other"], name="O", region="Moscow", timezone="Europe/Moscow")
    await publish_team(
        infra.kafka,
        [sales, other],
        [
            manager(t["anna"], t["sales"]),
            manager(t["boris"], t["sales"]),
            manager(t["head"], t["sales"]),
            manager(t["accountant"], t["other"]),
        ],
    )
    motivation = run_service("motivation")

    def accounting() -> dict[str, str]:
        return person_headers(t["accountant"], "accounting")

    admin = admin_headers()
    head = person_headers(t["head"], "head", department_id=t["sales"])
    anna = person_headers(t["anna"], "manager", department_id=t["sales"])
    async with httpx.AsyncClient(base_url=motivation.address, timeout=10) as http:
        url = f"/v1/plans/2026-09/departments/{t['sales']}"
        bad = [
            ({**PLAN, "sales_target": "-1"}, "sales_target"),
            ({**PLAN, "activity": [{"kpi": "outgoing_calls", "target": 2, "weight": "0.6"}]}, "activity"),
            ({**PLAN, "activity": [{"kpi": "coffee", "target": 2, "weight": 1}]}, "activity"),
            ({**PLAN, "bonus": 1}, "bonus"),
        ]
        for body, field in bad:
            answer = await http.put(url, json=body, headers=head)
            assert answer.status_code == 422, body
            assert field in answer.text
        assert (await http.put("/v1/plans/2026-13/departments/x", json=PLAN, headers=admin)).status_code == 422
        assert (
            await http.put(f"/v1/plans/2026-09/departments/{t['other']}", json=PLAN, headers=head)
        ).status_code == 403
        assert (await http.put(url, json=PLAN, headers=anna)).status_code == 403
        assert (await http.put("/v1/plans/2026-09/departments/ghost", json=PLAN, headers=admin)).status_code == 422
        created = await http.put(url, json=PLAN, headers=head)
        assert created.status_code == 201
        stale = await http.put(url, json=PLAN, headers={**head, "If-Match": '"7"'})
        assert stale.status_code == 409
        boris_plan = {**PLAN, "sales_target": "500"}  # a beginner's own bar
        assert (
            await http.put(f"/v1/plans/2026-09/managers/{t['boris']}", json=boris_plan, headers=head)
        ).status_code == 201
        assert (
            await http.put(f"/v1/pay-profiles/{t['anna']}", json={"base_salary": "60000"}, headers=admin)
        ).status_code == 200
        assert (
            await http.put(f"/v1/pay-profiles/{t['anna']}", json={"base_salary": "-5"}, headers=admin)
        ).status_code == 422
        assert (
            await http.put(f"/v1/pay-profiles/{t['anna']}", json={"base_salary": "1"}, headers=head)
        ).status_code == 403
        rules = (await http.get(f"/v1/pay-rules/departments/{t['sales']}", headers=head)).json()
        assert rules["source"] == "example defaults"

        # September: Anna 2 calls, 1 meeting, 900 paid; Boris 600 paid
        for payload in (
            call(t["anna"], "2026-09-10T09:00:00Z"),
            call(t["anna"], "2026-09-11T09:00:00Z"),
            activity(t["anna"], "meeting_held", "2026-09-12T09:00:00Z"),
            activity(t["anna"], "payment_received", "2026-09-20T09:00:00Z", "900"),
            activity(t["boris"], "payment_received", "2026-09-21T09:00:00Z", "600"),
        ):
            await publish(infra.kafka, payload, "x")

        async def provisional() -> dict[str, Any]:
            return (await http.get(f"/v1/payouts/2026-09/{t['anna']}", headers=anna)).json()

        async def boris_counted() -> bool:
            answer = await http.get(f"/v1/payouts/2026-09/{t['boris']}", headers=head)
            return bool(answer.json().get("sales_fulfilment_percent") == "120.00")

        async def anna_counted() -> bool:  # her calls (crm.calls) and her deal activity (crm.deals)
            found = await provisional()
            return (found.get("salary"), found.get("commission")) == ("60000.00", "45.00")

        # everything counted before the close: the calls come on another topic than the deal
        # activity, and Boris's payment follows Anna's on the partition
        await eventually(anna_counted, timeout=20)
        await eventually(boris_counted, timeout=20)
        found = await provisional()
        assert found["status"] == "provisional"
        # activity 100 % -> 100 % of 60,000; sales 90 % -> 5 % of 900 = 45
        assert (found["salary"], found["commission"], found["total"]) == ("60000.00", "45.00", "60045.00")
        assert (
            await http.get(f"/v1/payouts/2026-09/{t['anna']}", headers=person_headers(t["boris"], "manager"))
        ).status_code == 404

        closed = await http.post("/v1/periods/2026-09/close", headers=accounting())
        assert closed.status_code == 200
        assert closed.json()["state"] == "closed"
        again = (await http.post("/v1/periods/2026-09/close", headers=accounting())).json()
        assert again["revision"] == closed.json()["revision"] == 1
        frozen = (await http.get(f"/v1/payouts/2026-09/{t['anna']}", headers=anna)).json()
        assert frozen["status"] == "closed"
        assert frozen["total"] == "60045.00"
        boris = (await http.get(f"/v1/payouts/2026-09/{t['boris']}", headers=head)).json()
        assert boris["plan"]["source"] == "individual"
        assert boris["sales_fulfilment_percent"] == "120.00"  # 600 of his own 500
        assert (await http.put(url, json=PLAN, headers=head)).status_code == 409  # closed

        # a September payment that arrives after the close: an adjustment line in October
        await publish(infra.kafka, activity(t["anna"], "payment_received", "2026-09-29T09:00:00Z", "200"), "x")

        async def late_payment_counted() -> bool:
            answer = await http.get(
                "/v1/funnel", params={"from": "2026-09-29", "to": "2026-09-29", "manager_id": t["anna"]}, headers=admin
            )
            return bool(answer.json()["total"]["revenue"] == "200")

        await eventually(late_payment_counted, timeout=20)
        day = {"from": "2026-09-29", "to": "2026-09-29"}
        heads = (await http.get("/v1/funnel", params=day, headers=head)).json()  # the head's departments
        assert (heads["departments"], heads["total"]["revenue"]) == ([t["sales"]], "200")
        elsewhere = await http.get("/v1/funnel", params={**day, "department_id": t["other"]}, headers=head)
        assert elsewhere.status_code == 403
        frozen_again = (await http.get(f"/v1/payouts/2026-09/{t['anna']}", headers=anna)).json()
        assert frozen_again["total"] == "60045.00"  # never a silent change to a closed month
        october = (await http.post("/v1/periods/2026-10/close", headers=accounting())).json()
        assert october["state"] == "closed"
        anna_october = (await http.get(f"/v1/payouts/2026-10/{t['anna']}", headers=anna)).json()
        [adjustment] = [line for line in anna_october["lines"] if line["line"] == "adjustments"]
        # September with 1,100 paid: 110 % -> 7 % of 1,100 = 77, was 45: +32
        assert adjustment["from_period"] == "2026-09"
        assert Decimal(adjustment["amount"]) == Decimal(32)

        exported = await http.get("/v1/periods/2026-09/payouts.csv", headers=accounting())
        assert exported.headers["content-type"].startswith("text/csv")
        rows = {r["manager_id"]: r for r in csv.DictReader(io.StringIO(exported.text))}
        assert rows[t["anna"]]["total"] == "60045.00"
        assert (await http.get("/v1/periods/2026-11/payouts.csv", headers=accounting())).status_code == 409

        assert (await http.post("/v1/periods/2026-09/reopen", json={"reason": "x"}, headers=anna)).status_code == 403
        reopened = await http.post("/v1/periods/2026-09/reopen", json={"reason": "wrong plan for Boris"}, headers=head)
        assert reopened.json()["state"] == "open"
        assert (await http.post("/v1/periods/2026-09/close", headers=accounting())).json()["revision"] == 2

    def payouts(records: list[Any]) -> list[dict[str, Any]]:
        return [
            json.loads(r.value)
            for r in records
            if headers_of(r).get("ce_type") == "payout.calculated" and json.loads(r.value)["manager_id"] == t["anna"]
        ]

    records = await read_topic(infra.kafka, topics.MOTIVATION.name, until=lambda rs: len(payouts(rs)) >= 3, timeout=30)
    assert sorted((p["period"], p["revision"]) for p in payouts(records))[:3] == [
        ("2026-09", 1),
        ("2026-09", 2),
        ("2026-10", 1),
    ]


async def test_an_unrealistic_plan_a_seasonal_review_and_an_underperformer_with_a_diagnosis(infra, run_service, unique):
    strict = Department(
        id=f"strict-{unique}", name="Strict", region="Moscow", timezone="Europe/Moscow", head_manager_id=f"h1-{unique}"
    )
    season = Department(
        id=f"season-{unique}",
        name="Season",
        region="Moscow",
        timezone="Europe/Moscow",
        seasonal=True,
        head_manager_id=f"h2-{unique}",
    )
    fine = Department(
        id=f"fine-{unique}", name="Fine", region="Moscow", timezone="Europe/Moscow", head_manager_id=f"f0-{unique}"
    )
    people = [manager(f"h1-{unique}", strict.id), manager(f"s1-{unique}", strict.id)]
    people += [manager(f"h2-{unique}", season.id)]
    people += [manager(f"f{i}-{unique}", fine.id) for i in range(4)]
    await publish_team(infra.kafka, [strict, season, fine], people)
    motivation = run_service("motivation", MOTIVATION_UNREALISTIC_MONTHS="2", MOTIVATION_FEW_SHARE="0.3")
    admin = admin_headers()
    plan = {"activity": [{"kpi": "meetings_held", "target": 2, "weight": 1}], "sales_target": "1000"}
    async with httpx.AsyncClient(base_url=motivation.address, timeout=10, headers=admin) as http:
        for department in (strict, season, fine):
            assert (await http.put(f"/v1/plans/2026-07/departments/{department.id}", json=plan)).status_code == 201
        # the fine department: three sell and meet, one only calls
        for month in ("07", "08"):
            for i in range(3):
                await publish(
                    infra.kafka,
                    activity(f"f{i}-{unique}", "payment_received", f"2026-{month}-10T09:00:00Z", "1500"),
                    "x",
                )
                for _ in range(3):
                    await publish(
                        infra.kafka, activity(f"f{i}-{unique}", "meeting_held", f"2026-{month}-11T09:00:00Z"), "x"
                    )
                await publish(infra.kafka, call(f"f{i}-{unique}", f"2026-{month}-09T09:00:00Z"), "x")
            for _ in range(3):
                await publish(infra.kafka, call(f"f3-{unique}", f"2026-{month}-09T09:00:00Z"), "x")

        async def counted() -> bool:
            found = (
                await http.get(
                    "/v1/funnel", params={"from": "2026-08-01", "to": "2026-08-31", "department_id": fine.id}
                )
            ).json()
            return found["total"]["meetings_held"] == 9 and found["total"]["outgoing_calls"] == 6

        await eventually(counted, timeout=30)
        july = (await http.post("/v1/periods/2026-07/close")).json()
        assert july["flags"] == ["manager.underperforming"]  # one month is not yet "in a row"
        august = (await http.post("/v1/periods/2026-08/close")).json()
        assert sorted(august["flags"]) == ["manager.underperforming", "plan.review_suggested", "plan.unrealistic"]
        funnel = (
            await http.get("/v1/funnel", params={"from": "2026-08-01", "to": "2026-08-31", "department_id": fine.id})
        ).json()
        assert funnel["total"]["revenue"] == "4500"

    def flags(records: list[Any]) -> dict[str, list[dict[str, Any]]]:
        found: dict[str, list[dict[str, Any]]] = {}
        for r in records:
            kind = headers_of(r).get("ce_type")
            data = json.loads(r.value)
            if data.get("department_id") in (strict.id, season.id, fine.id):
                found.setdefault(str(kind), []).append(data)
        return found

    records = await read_topic(
        infra.kafka, topics.MOTIVATION.name, until=lambda rs: "plan.unrealistic" in flags(rs), timeout=30
    )
    found = flags(records)
    [alarm] = found["plan.unrealistic"]
    assert (alarm["department_id"], alarm["periods"], alarm["head_manager_id"]) == (
        strict.id,
        ["2026-07", "2026-08"],
        f"h1-{unique}",
    )
    [review] = found["plan.review_suggested"]
    assert review["department_id"] == season.id
    assert review["revenue_year_before"] == ["0", "0"]
    underperformers = found["manager.underperforming"]
    assert {u["manager_id"] for u in underperformers} == {f"f3-{unique}"}
    assert underperformers[-1]["weakest_step"] == "meetings_held"
    assert "meetings held: 0 against the department's median 3" in underperformers[-1]["diagnosis"]


async def test_salaries_kept_in_the_directory_before_the_upgrade_move_to_pay_profiles(
    infra, run_service, mongo_client, unique
):
    db = mongo_client[f"t_motivation_{unique}"]
    await db["managers"].insert_one(
        {
            "_id": f"old-{unique}",
            "name": "Old",
            "department_id": "hq",
            "email": f"old-{unique}@example.com",
            "base_salary": "70000.50",
            "version": 3,
        }
    )
    run_service("motivation")
    assert await db["pay_profiles"].find_one({"_id": f"old-{unique}"}) == {
        "_id": f"old-{unique}",
        "base_salary": "70000.50",
    }
    assert "base_salary" not in await db["managers"].find_one({"_id": f"old-{unique}"})
