"""The deals service as a real process against the real Kafka broker and MongoDB-wire server:
the seed's client process end to end (a converted lead becomes one deal, the rules set and
cancel tasks, a payment moves the deal to production and tells production), tasks falling due
and overdue on durable timers that survive kill -9 and fire once across two instances,
optimistic concurrency, hostile input, integration reports and linked calls."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from crmhub import topics
from crmhub.events import new_event, to_record
from crmhub.schemas.calls import CallCompleted, CallRecord
from crmhub.schemas.deals import DealActivityReported
from crmhub.schemas.leads import LeadContact, LeadConverted, LeadSummary
from crmhub.schemas.team import Department
from localservers import PYTHONPATH, RunningServer
from support.kafka import eventually, headers_of, produce, read_topic
from support.team import manager, publish_team
from support.tokens import admin_headers, person_headers

pytestmark = pytest.mark.integration
SECONDS_PER_DAY = "2"  # a rule day lasts 2 s: "call about payment in 2 days" is due after 4 s


class Team:
    def __init__(self, unique: str) -> None:
        self.sales = f"sales-{unique}"
        self.production = f"prod-{unique}"
        self.anna = f"anna-{unique}"
        self.boris = f"boris-{unique}"
        self.head = f"olga-{unique}"
        self.pavel = f"pavel-{unique}"

    async def publish(self, kafka: str) -> None:
        await publish_team(
            kafka,
            [
                Department(
                    id=self.sales, name="Sales", region="Moscow", timezone="Europe/Moscow", head_manager_id=self.head
                ),
                Department(id=self.production, name="Production", region="Moscow", timezone="Europe/Moscow"),
            ],
            [
                manager(self.anna, self.sales),
                manager(self.boris, self.sales),
                manager(self.head, self.sales),
                manager(self.pavel, self.production),
            ],
        )


@pytest.fixture
async def team(infra, unique) -> Team:
    team = Team(unique)
    await team.publish(infra.kafka)
    return team


@pytest.fixture
def start_deals(run_service, team) -> Callable[..., RunningServer]:
    def start(**env: str) -> RunningServer:
        return run_service(
            "deals",
            DEALS_RULE_SECONDS_PER_DAY=SECONDS_PER_DAY,
            DEALS_PRODUCTION_DEPARTMENT_ID=team.production,
            DEALS_TIMER_POLL_SECONDS="0.2",
            DEALS_LANGUAGE="en",
            **env,
        )

    return start


def converted(lead_id: str, manager_id: str, phone: str) -> LeadConverted:
    payload = LeadConverted(
        lead=LeadSummary(
            lead_id=lead_id,
            source_id="site",
            contact=LeadContact(name="Irina", phone=phone),
            product="kitchen",
            region="Moscow",
        ),
        manager_id=manager_id,
        department_id=None,
        converted_at=datetime.now(UTC),
        touches=1,
    )
    return payload


async def publish(kafka: str, payload: Any, subject: str, *, event_id: str | None = None) -> None:
    record = to_record(new_event(payload, source="/tests", subject=subject, event_id=event_id))
    await produce(kafka, record.topic, [(record.key, record.value, record.headers)])


async def deal_events(kafka: str, deal_id: str, until: Callable[[list[tuple[str, dict[str, Any]]]], bool]):
    """(type, data) of the events on crm.deals about one deal, read until `until` holds.

    An event is counted once per id, as every consumer counts it: the relay may still publish a
    copy of an event (at-least-once; removing the fault-free copies is the reliability issue's
    work), and a copy is the same event, not a second effect."""

    def mine(records: list[Any]) -> list[tuple[str, dict[str, Any]]]:
        found = []
        seen: set[str] = set()
        for r in records:
            h = headers_of(r)
            if h.get("ce_subject") == deal_id and h["ce_id"] not in seen:
                seen.add(h["ce_id"])
                found.append((h["ce_type"], json.loads(r.value)))
        return found

    records = await read_topic(kafka, topics.DEALS.name, until=lambda rs: until(mine(rs)), timeout=40)
    return mine(records)


def types(events: list[tuple[str, dict[str, Any]]], wanted: str) -> list[dict[str, Any]]:
    return [data for kind, data in events if kind == wanted]


async def test_the_client_process_from_a_converted_lead_to_the_review_task(infra, team, start_deals):
    deals = start_deals()
    phone = f"+7916{uuid.uuid4().int % 10_000_000:07d}"
    lead_id = str(uuid.uuid4())
    # the same conversion delivered three times (a producer retry, a replay): one deal
    for _ in range(3):
        await publish(infra.kafka, converted(lead_id, team.anna, phone), lead_id)
    # a marker on the same partition (same key), for Boris: once his deal exists, all three were consumed
    marker = str(uuid.uuid4())
    await publish(infra.kafka, converted(marker, team.boris, f"+7917{uuid.uuid4().int % 10_000_000:07d}"), lead_id)
    anna = person_headers(team.anna, "manager", department_id=team.sales)
    async with httpx.AsyncClient(base_url=deals.address, timeout=10) as http:

        async def deals_of(who: str) -> list[dict[str, Any]]:
            return (await http.get("/v1/deals", params={"manager_id": who}, headers=admin_headers())).json()["items"]

        await eventually(lambda: deals_of(team.boris), timeout=20)
        found = await deals_of(team.anna)
        assert len(found) == 1
        deal = found[0]
        deal_id = deal["id"]
        assert deal["stage"] == "measurement"
        assert deal["lead_id"] == lead_id
        assert deal["client"]["phone"] == phone
        assert [t["title"] for t in deal["open_tasks"]] == ["Arrange the measurement: executor and date"]

        async def act(kind: str, **extra: Any) -> dict[str, Any]:
            response = await http.post(f"/v1/deals/{deal_id}/activities", json={"kind": kind, **extra}, headers=anna)
            assert response.status_code == 200, response.text
            return response.json()

        deal = await act("measurement_accepted")
        assert deal["stage"] == "design"
        assert [t["title"] for t in deal["open_tasks"]] == ["Start the design"]

        moved = await http.post(f"/v1/deals/{deal_id}/move", json={"to": "proposal"}, headers=anna)
        assert moved.status_code == 200
        deal = await act("proposal_saved", text="КП на кухню, 2 варианта")
        assert deal["stage"] == "decision"
        assert [t["rule_id"] for t in deal["timers"]] == ["decision_follow_up"]  # "still in decision after 7 days?"

        deal = await act("invoice_issued", amount="250000.00")
        assert deal["stage"] == "invoice"
        assert deal["timers"] == []  # the invoice ended the wait for the decision
        [payment_task] = deal["open_tasks"]
        assert payment_task["title"] == "Call the client about paying the invoice"
        assert payment_task["rule_id"] == "call_about_payment"
        due = datetime.fromisoformat(payment_task["due_at"])
        assert (
            timedelta(seconds=3)
            < due - datetime.fromisoformat(deal["history"][-1]["entered_at"])
            < timedelta(seconds=5)
        )

        deal = await act("payment_received", amount="250000.00")
        assert deal["stage"] == "production"
        assert deal["open_tasks"] == []
        tasks = (await http.get("/v1/tasks", params={"status": "cancelled"}, headers=anna)).json()["items"]
        assert payment_task["id"] in {t["id"] for t in tasks}

        deal = await act("work_delivered")
        assert deal["stage"] == "delivered"
        assert [t["title"] for t in deal["open_tasks"]] == ["Collect the client's review"]

    events = await deal_events(infra.kafka, deal_id, lambda es: len(types(es, "deal.alert")) >= 1)
    [alert] = types(events, "deal.alert")
    assert alert["alert"] == "production_handover"
    assert set(alert["recipient_ids"]) == {team.pavel, team.anna}
    cancelled = [e for e in types(events, "task.cancelled") if e["task"]["task_id"] == payment_task["id"]]
    assert len(cancelled) == 1
    assert "payment_received" in cancelled[0]["reason"]
    assert len(types(events, "deal.created")) == 1
    stages = [(e["from_stage"], e["to_stage"]) for e in types(events, "deal.stage_changed")]
    assert stages == [
        ("measurement", "design"),
        ("design", "proposal"),
        ("proposal", "decision"),
        ("decision", "invoice"),
        ("invoice", "production"),
        ("production", "delivered"),
    ]
    kinds = [e["kind"] for e in types(events, "deal.activity_recorded")]
    assert kinds == ["measurement_accepted", "proposal_saved", "invoice_issued", "payment_received", "work_delivered"]
    assert all(e["manager_id"] == team.anna for e in types(events, "deal.activity_recorded"))


async def test_moves_are_checked_and_a_stale_version_or_a_lost_deal_without_reason_is_refused(infra, team, start_deals):
    deals = start_deals()
    anna = person_headers(team.anna, "manager", department_id=team.sales)
    async with httpx.AsyncClient(base_url=deals.address, timeout=10) as http:
        created = await http.post(
            "/v1/deals", json={"title": "Wardrobe", "client": {"phone": "8 916 555-12-34"}}, headers=anna
        )
        assert created.status_code == 201, created.text
        deal = created.json()
        deal_id, version = deal["id"], created.headers["etag"]
        assert deal["manager_id"] == team.anna
        assert deal["client"]["phone"] == "+79165551234"

        invalid = await http.post(f"/v1/deals/{deal_id}/move", json={"to": "invoice"}, headers=anna)
        assert invalid.status_code == 409
        assert invalid.json()["current_stage"] == "measurement"
        assert invalid.json()["allowed"] == ["design", "lost"]

        # five people move the same deal at once: one wins, the others are told it moved
        racing = await asyncio.gather(
            *(
                http.post(f"/v1/deals/{deal_id}/move", json={"to": "design"}, headers={**anna, "If-Match": version})
                for _ in range(5)
            )
        )
        assert sorted(r.status_code for r in racing) == [200, 409, 409, 409, 409]
        assert {r.json()["error"] for r in racing if r.status_code == 409} <= {"stale_version", "invalid_move"}
        history = (await http.get(f"/v1/deals/{deal_id}", headers=anna)).json()["history"]
        assert [h["stage"] for h in history] == ["measurement", "design"]
        stale = await http.post(
            f"/v1/deals/{deal_id}/move", json={"to": "proposal"}, headers={**anna, "If-Match": version}
        )
        assert stale.status_code == 409
        assert stale.json()["error"] == "stale_version"
        assert (await http.get(f"/v1/deals/{deal_id}", headers=anna)).json()["stage"] == "design"

        no_reason = await http.post(f"/v1/deals/{deal_id}/move", json={"to": "lost", "comment": "gone"}, headers=anna)
        assert no_reason.status_code == 422
        assert no_reason.json()["field"] == "reason"
        no_comment = await http.post(f"/v1/deals/{deal_id}/move", json={"to": "lost", "reason": "price"}, headers=anna)
        assert no_comment.status_code == 422
        assert no_comment.json()["field"] == "comment"
        assert (await http.get(f"/v1/deals/{deal_id}", headers=anna)).json()["stage"] == "design"

        lost = await http.post(
            f"/v1/deals/{deal_id}/move",
            json={"to": "lost", "reason": "price", "comment": "found it cheaper"},
            headers=anna,
        )
        assert lost.status_code == 200
        body = lost.json()
        assert (body["outcome"], body["lost_reason"], body["open_tasks"], body["allowed_moves"]) == (
            "lost",
            "price",
            [],
            [],
        )

        # someone else's deal is not even visible to a manager; the head of the department sees it
        boris = person_headers(team.boris, "manager", department_id=team.sales)
        assert (await http.get(f"/v1/deals/{deal_id}", headers=boris)).status_code == 404
        head = person_headers(team.head, "head", department_id=team.sales)
        assert (await http.get(f"/v1/deals/{deal_id}", headers=head)).status_code == 200
        # a head who opens a deal naming nobody opens it as themselves, as a manager would
        own = await http.post("/v1/deals", json={"title": "Showroom"}, headers=head)
        assert own.status_code == 201, own.text
        assert own.json()["manager_id"] == team.head

        stats = (await http.get("/v1/stats/pipeline", params={"pipeline": "client_service"}, headers=head)).json()
        figures = stats["pipelines"][0]
        assert figures["lost_reasons"]["price"] >= 1
        assert figures["outcomes"]["lost"] >= 1
        assert (await http.get("/v1/stats/pipeline", headers=anna)).status_code == 403


async def test_hostile_and_malformed_input_gets_a_clear_4xx_and_stores_nothing(infra, team, start_deals):
    deals = start_deals()
    anna = person_headers(team.anna, "manager", department_id=team.sales)
    async with httpx.AsyncClient(base_url=deals.address, timeout=10) as http:
        bad_bodies = [
            {"title": ""},
            {"title": "x" * 5000},
            {"title": "ok", "amount": "-5"},
            {"title": "ok", "amount": "1e30"},
            {"title": "ok", "client": {"phone": "not a phone"}},
            {"title": "ok", "unexpected": True},
            {"title": "ok", "products": [{"name": "a", "price": "abc"}]},
            {"title": {"$gt": ""}},
            {"title": "ok", "pipeline_id": "../../etc"},
        ]
        for body in bad_bodies:
            response = await http.post("/v1/deals", json=body, headers=anna)
            assert response.status_code == 422, (body, response.text)
            assert response.json()["error"] == "validation_failed"
        assert (
            await http.post("/v1/deals", content=b"{not json", headers={**anna, "content-type": "application/json"})
        ).status_code in (400, 422)
        assert (
            await http.post("/v1/deals", content=b"title=x", headers={**anna, "content-type": "text/plain"})
        ).status_code == 415
        unknown_pipeline = await http.post("/v1/deals", json={"title": "ok", "pipeline_id": "nope"}, headers=anna)
        assert unknown_pipeline.status_code == 422
        assert unknown_pipeline.json()["field"] == "pipeline_id"
        assert (await http.get("/v1/deals", params={"manager_id": team.anna}, headers=anna)).json()["total"] == 0

        created = (await http.post("/v1/deals", json={"title": "Door"}, headers=anna)).json()
        deal_id = created["id"]
        assert (
            await http.post(f"/v1/deals/{deal_id}/activities", json={"kind": "bribe"}, headers=anna)
        ).status_code == 422
        assert (
            await http.post(f"/v1/deals/{deal_id}/activities", json={"kind": "feedback"}, headers=anna)
        ).status_code == 422
        assert (await http.post(f"/v1/deals/{deal_id}/move", json={"to": "x" * 100}, headers=anna)).status_code == 422
        assert (
            await http.post(f"/v1/deals/{deal_id}/move", json={"to": "design"}, headers={**anna, "If-Match": "banana"})
        ).status_code == 400
        assert (await http.get("/v1/deals/deal-doesnotexist", headers=anna)).status_code == 404
        assert (await http.get("/v1/deals/..%2F..%2Fetc", headers=anna)).status_code in (404, 422)
        after = (await http.get(f"/v1/deals/{deal_id}", headers=anna)).json()
        assert after["version"] == created["version"]
        assert after["activities"] == []

        # tasks: a task on nothing, a cancelled task completed, someone else's task
        task = await http.post(
            "/v1/tasks", json={"title": "Call", "due_at": "2030-01-01T10:00:00+03:00", "deal_id": deal_id}, headers=anna
        )
        assert task.status_code == 201, task.text
        task_id = task.json()["id"]
        naive = await http.post(
            "/v1/tasks", json={"title": "Call", "due_at": "2030-01-01T10:00:00", "deal_id": deal_id}, headers=anna
        )
        assert naive.status_code == 422
        nowhere = await http.post("/v1/tasks", json={"title": "Call", "due_at": "2030-01-01T10:00:00Z"}, headers=anna)
        assert nowhere.status_code == 422
        assert nowhere.json()["field"] == "deal_id"
        boris = person_headers(team.boris, "manager", department_id=team.sales)
        assert (
            await http.post(f"/v1/tasks/{task_id}/complete", json={"result": "x"}, headers=boris)
        ).status_code == 404
        assert (
            await http.post(f"/v1/tasks/{task_id}/reassign", json={"manager_id": team.boris}, headers=anna)
        ).status_code == 403
        cancelled = await http.post(f"/v1/tasks/{task_id}/cancel", json={"reason": "not needed"}, headers=anna)
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled"
        again = await http.post(f"/v1/tasks/{task_id}/complete", json={"result": "called"}, headers=anna)
        assert again.status_code == 409
        assert "cancelled" in again.json()["message"]


async def test_tasks_fall_due_and_overdue_once_across_a_kill_9_and_two_instances(infra, team, start_deals):
    first = start_deals()
    anna = person_headers(team.anna, "manager", department_id=team.sales)
    async with httpx.AsyncClient(timeout=10) as http:
        created = (await http.post(f"{first.address}/v1/deals", json={"title": "Stairs"}, headers=anna)).json()
        deal_id = created["id"]
        # a manual task due in 3 s and the rule's "call about payment" (2 rule days = 4 s)
        due = (datetime.now(UTC) + timedelta(seconds=3)).isoformat()
        task = await http.post(
            f"{first.address}/v1/tasks",
            json={"title": "Send the drawings", "due_at": due, "deal_id": deal_id},
            headers=anna,
        )
        assert task.status_code == 201
        for stage in ("design", "proposal"):
            await http.post(f"{first.address}/v1/deals/{deal_id}/move", json={"to": stage}, headers=anna)
        await http.post(f"{first.address}/v1/deals/{deal_id}/activities", json={"kind": "proposal_saved"}, headers=anna)
        deal = (
            await http.post(
                f"{first.address}/v1/deals/{deal_id}/activities", json={"kind": "invoice_issued"}, headers=anna
            )
        ).json()
        rule_task = next(t for t in deal["open_tasks"] if t["rule_id"] == "call_about_payment")
    first.process.kill()  # kill -9 with both timers pending
    first.process.wait()
    second, third = start_deals(), start_deals()  # two instances: each timer still fires once

    wanted = {task.json()["id"], rule_task["id"]}

    def complete(events: list[tuple[str, dict[str, Any]]]) -> bool:
        overdue = {e["task"]["task_id"] for e in types(events, "task.overdue")}
        return wanted <= overdue

    events = await deal_events(infra.kafka, deal_id, complete)
    await asyncio.sleep(2.0)  # a second firing would come within the poll interval
    events = await deal_events(infra.kafka, deal_id, complete)
    for task_id in wanted:
        assert len([e for e in types(events, "task.due") if e["task"]["task_id"] == task_id]) == 1
        [overdue] = [e for e in types(events, "task.overdue") if e["task"]["task_id"] == task_id]
        assert overdue["head_manager_id"] == team.head
    async with httpx.AsyncClient(timeout=10) as http:
        listed = (await http.get(f"{second.address}/v1/tasks", params={"status": "overdue"}, headers=anna)).json()
        assert wanted <= {t["id"] for t in listed["items"]}
        assert all(t["overdue"] for t in listed["items"])
        done = await http.post(
            f"{third.address}/v1/tasks/{rule_task['id']}/complete", json={"result": "paid tomorrow"}, headers=anna
        )
        assert done.status_code == 200
        assert done.json()["status"] == "done"
        still_open = (
            await http.get(f"{second.address}/v1/tasks", params={"manager_id": team.anna}, headers=anna)
        ).json()
        assert rule_task["id"] not in {t["id"] for t in still_open["items"]}
    assert third.process.poll() is None
    assert second.process.poll() is None


async def test_reports_and_calls_become_activities_once_and_an_unknown_deal_is_dead_lettered(infra, team, start_deals):
    deals = start_deals(DEALS_CONSUMER_MAX_ATTEMPTS="2")
    anna = person_headers(team.anna, "manager", department_id=team.sales)
    phone = f"+7916{uuid.uuid4().int % 10_000_000:07d}"
    async with httpx.AsyncClient(base_url=deals.address, timeout=10) as http:
        deal = (await http.post("/v1/deals", json={"title": "Bath", "client": {"phone": phone}}, headers=anna)).json()
        deal_id = deal["id"]
        report = DealActivityReported(deal_id=deal_id, report_id="1c-invoice-77", kind="invoice_issued", amount="1000")
        call = CallCompleted(
            call=CallRecord(
                call_id=f"call-{uuid.uuid4().hex[:8]}",
                provider_id="pbx",
                provider_call_id="x1",
                direction="inbound",
                caller=phone,
                callee="+74950000000",
                manager_id=team.anna,
                started_at=datetime.now(UTC),
                talk_seconds=42,
                outcome="answered",
            )
        )
        for _ in range(2):  # each delivered twice
            await publish(infra.kafka, report, deal_id)
            await publish(infra.kafka, call, call.call.call_id)
        # markers on the same partitions (same keys): once they are recorded, the copies were consumed
        note = DealActivityReported(deal_id=deal_id, report_id="1c-note-78", kind="note", text="marker")
        await publish(infra.kafka, note, deal_id)
        later = call.model_copy(update={"call": call.call.model_copy(update={"call_id": f"{call.call.call_id}-m"})})
        await publish(infra.kafka, later, call.call.call_id)
        ghost = DealActivityReported(
            deal_id="deal-nosuchdeal", report_id=f"r-{uuid.uuid4().hex}", kind="payment_received"
        )
        await publish(infra.kafka, ghost, ghost.deal_id)

        async def markers() -> bool:
            ids = [a["details"] for a in (await http.get(f"/v1/deals/{deal_id}", headers=anna)).json()["activities"]]
            return any(d.get("report_id") == "1c-note-78" for d in ids) and any(
                d.get("call_id") == later.call.call_id for d in ids
            )

        await eventually(markers, timeout=20)
        activities = (await http.get(f"/v1/deals/{deal_id}", headers=anna)).json()["activities"]
        assert sorted(a["kind"] for a in activities) == ["call_linked", "call_linked", "invoice_issued", "note"]
        linked = next(a for a in activities if a["details"].get("call_id") == call.call.call_id)
        assert linked["details"]["talk_seconds"] == 42
        assert linked["manager_id"] == team.anna

    def dead_lettered(records: list[Any]) -> bool:
        return any(
            headers_of(r).get("ce_subject") == "deal-nosuchdeal"
            and headers_of(r).get("dlq_consumer_group") == "deals.reports"
            for r in records
        )

    records = await read_topic(infra.kafka, topics.DEALS.dlq, until=dead_lettered, timeout=30)
    [dlq] = [r for r in records if headers_of(r).get("ce_subject") == "deal-nosuchdeal"]
    assert "does not exist" in headers_of(dlq)["dlq_error"]
    assert deals.process.poll() is None  # no crash loop


def test_a_rule_naming_an_unknown_stage_stops_the_service_with_a_message_naming_it(tmp_path: Path, service_env):
    rules = tmp_path / "rules.json"
    rules.write_text(
        json.dumps(
            {
                "rules": [
                    {
                        "id": "call_the_moon",
                        "description": "broken on purpose",
                        "on": "invoice_issued",
                        "active_in": ["moon"],
                        "actions": [{"task": {"title": {"ru": "x", "en": "x"}}}],
                    }
                ]
            }
        )
    )
    env = {
        **os.environ,
        **service_env("deals"),
        "PYTHONPATH": os.pathsep.join(str(p) for p in PYTHONPATH),
        "DEALS_RULES_FILE": str(rules),
    }
    done = subprocess.run([sys.executable, "-m", "deals"], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "rule call_the_moon: active_in: unknown stage 'moon'" in done.stderr + done.stdout


async def test_production_and_the_head_hear_through_the_notifier_with_no_notifier_code_for_deals(
    infra, team, start_deals, run_service
):
    deals = start_deals()
    notifier = run_service("notifier", NOTIFIER_DEFAULT_CHANNELS="inbox", NOTIFIER_BURST_LIMIT="100")
    anna = person_headers(team.anna, "manager", department_id=team.sales)
    async with httpx.AsyncClient(timeout=10) as http:
        deal = (await http.post(f"{deals.address}/v1/deals", json={"title": "Veranda"}, headers=anna)).json()
        deal_id = deal["id"]
        for stage in ("design", "proposal", "decision", "invoice"):
            assert (
                await http.post(f"{deals.address}/v1/deals/{deal_id}/move", json={"to": stage}, headers=anna)
            ).status_code == 200
        paid = await http.post(
            f"{deals.address}/v1/deals/{deal_id}/activities", json={"kind": "payment_received"}, headers=anna
        )
        assert paid.json()["stage"] == "production"
        await http.post(
            f"{deals.address}/v1/deals/{deal_id}/activities",
            json={"kind": "feedback", "sentiment": "negative", "text": "late again"},
            headers=anna,
        )

        async def inbox(who: str, role: str) -> list[str]:
            headers = person_headers(who, role, department_id=team.sales)
            items = (await http.get(f"{notifier.address}/v1/inbox/{who}", headers=headers)).json()["items"]
            return [i["subject"] for i in items]

        await eventually(lambda: inbox(team.pavel, "manager"), timeout=30)
        await eventually(lambda: inbox(team.head, "head"), timeout=30)
        # in each person's language (Russian, the default)
        assert await inbox(team.pavel, "manager") == ["В производство: Veranda"]
        assert "СРОЧНО: негативный отзыв клиента по сделке Veranda" in await inbox(team.head, "head")
