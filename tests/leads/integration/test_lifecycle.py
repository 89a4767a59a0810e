"""A lead's life after intake: taken, converted or rejected; escalated when nobody takes it in
time; kept waiting (or given to the head) when nobody is on duty; fair across restarts; and
calls from crm.calls becoming leads."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from crmhub.aggregate_store import AggregateStore
from crmhub.events import new_event, to_record
from crmhub.schemas.calls import CallCompleted, CallMissed, CallRecord
from leads.adapters.lead_store import LeadStore
from leads.domain.lead import Lead
from leads.domain.stats import lead_figures
from support.hub import SECRET, phone
from support.kafka import eventually, headers_of, produce, read_topic
from support.tokens import admin_headers, person_headers

pytestmark = pytest.mark.integration


async def _events_of(kafka: str, lead_id: str, count: int, timeout: float = 20) -> list[tuple[str, dict]]:
    records = await read_topic(
        kafka, "crm.leads", until=lambda rs: sum(r.key == lead_id.encode() for r in rs) >= count, timeout=timeout
    )
    return [(headers_of(r)["ce_type"], json.loads(r.value)) for r in records if r.key == lead_id.encode()]


async def test_take_convert_and_reject_with_their_events_and_figures(hub):
    async with hub.client() as http:
        won = (await hub.submit(http, {"phone": phone(), "product": "Кухня", "utm": {"campaign": "life"}})).json()[
            "lead_id"
        ]
        lost = (await hub.submit(http, {"phone": phone(), "utm": {"campaign": "life"}})).json()["lead_id"]
        manager = (await hub.lead(http, won))["manager_id"]
        other = next(m for m in hub.managers if m != manager)
        wrong = await http.post(f"/v1/leads/{won}/take", json={"manager_id": other})
        assert wrong.status_code == 409
        assert manager in wrong.json()["message"]
        early = await http.post(f"/v1/leads/{won}/convert", json={"manager_id": manager})
        assert early.status_code == 409
        taken = await http.post(f"/v1/leads/{won}/take", json={"manager_id": manager})
        assert taken.json()["status"] == "in_work"
        assert taken.json()["taken_within_sla"] is True
        converted = await http.post(
            f"/v1/leads/{won}/convert", json={"manager_id": manager, "comment": "замер в пятницу"}
        )
        assert converted.json()["status"] == "converted"
        rejected = await http.post(f"/v1/leads/{lost}/reject", json={"reason": "not_interested", "comment": "дорого"})
        assert rejected.json()["reject_reason"] == "not_interested"
        assert (await http.post(f"/v1/leads/{lost}/reject", json={"reason": "other"})).status_code == 409
        assert (await http.post(f"/v1/leads/{lost}/reject", json={"reason": "because"})).status_code == 422
        assert (await http.post("/v1/leads/no-such-lead/take", json={"manager_id": manager})).status_code == 404
        listed = await http.get("/v1/leads", params={"status": "converted", "manager": manager})
        life: dict = {}

        async def counted() -> bool:  # the figures follow the events the relay projects
            stats = (await http.get("/v1/stats/leads", params={"group_by": "campaign"})).json()
            life.update(next((g for g in stats["groups"] if g["key"] == "life"), {}))
            figures = ("leads", "taken", "taken_within_sla", "converted", "rejected", "open")
            return tuple(life.get(f) for f in figures) == (2, 1, 1, 1, 1, 0)

        await eventually(counted, timeout=15)
    assert life["taken_within_sla_share"] == 1.0
    assert won in [item["id"] for item in listed.json()["items"]]
    events = await _events_of(hub.kafka, won, 4)
    assert [t for t, _ in events] == ["lead.created", "lead.assigned", "lead.taken", "lead.converted"]
    deal = events[3][1]
    assert deal["lead"]["product"] == "Кухня"
    assert deal["manager_id"] == manager
    assert deal["comment"] == "замер в пятницу"


async def test_not_taken_within_sla_escalates_to_the_head_and_the_next_manager_again_and_again(hub, mongo_client):
    async with hub.client() as http:
        response = await hub.submit(http, {"phone": phone()}, key=f"{SECRET}-slow")
        lead_id = response.json()["lead_id"]
        first = (await hub.lead(http, lead_id))["manager_id"]
        events = await _events_of(hub.kafka, lead_id, 6, timeout=60)
        lead = await hub.lead(http, lead_id)
    kinds = [t for t, _ in events]
    assert kinds[:6] == [
        "lead.created",
        "lead.assigned",
        "lead.sla_breached",
        "lead.assigned",
        "lead.sla_breached",
        "lead.assigned",
    ]
    first_breach, second_breach = events[2][1], events[4][1]
    assert first_breach["manager_id"] == first
    assert first_breach["head_manager_id"] == hub.head
    assert (first_breach["breach_number"], second_breach["breach_number"]) == (1, 2)
    escalated = events[3][1]
    assert escalated["reason"] == "sla_escalation"
    assert escalated["previous_manager_id"] == first
    assert escalated["manager_id"] != first
    assert escalated["manager_id"] in hub.managers
    assert lead["sla_breaches"] >= 2
    async with hub.client() as http:

        async def breaches_counted() -> bool:
            stats = (await http.get("/v1/stats/leads", params={"group_by": "source"})).json()
            slow = next((g for g in stats["groups"] if g["key"] == hub.source("slow")), {})
            return slow.get("sla_breaches", 0) >= 2

        await eventually(breaches_counted, timeout=15)
        for _ in range(10):  # taking it ends the escalations (it may move on between read and take)
            current = (await hub.lead(http, lead_id))["manager_id"]
            if (await http.post(f"/v1/leads/{lead_id}/take", json={"manager_id": current})).status_code == 200:
                break
        assert (await hub.lead(http, lead_id))["taken_within_sla"] is False

        # the managers' lists followed the lead: in its manager's, in nobody else's, in all leads once
        async def listed_under(manager: str) -> list[str]:
            page = (await http.get("/v1/leads", params={"manager": manager, "limit": 500})).json()
            assert page["total"] == len(page["items"])
            return [item["id"] for item in page["items"]]

        async def followed() -> bool:
            holders = [m for m in hub.managers if lead_id in await listed_under(m)]
            return holders == [current]

        await eventually(followed, timeout=15)
        everything = (await http.get("/v1/leads", params={"limit": 500})).json()["items"]
        assert [item["id"] for item in everything].count(lead_id) == 1

    # what capacity limits count (each manager's open leads) is read from listings kept by events:
    # it equals what counting the stored leads gives
    db = mongo_client[f"{hub.database}_leads"]
    store = LeadStore(AggregateStore(db["leads"], Lead), db)

    async def open_counts_agree() -> bool:
        active = db["leads"].find({"status": {"$in": ["assigned", "in_work"]}}, {"manager_id": 1})
        counted = Counter([doc["manager_id"] async for doc in active if doc.get("manager_id")])
        return dict(counted) == await store.open_leads_by_manager()

    await eventually(open_counts_agree, timeout=15)

    # so are the figures (pre-summed per day and month): they equal folding the stored leads,
    # whole and over a window that cuts today
    since = datetime.now(UTC) - timedelta(minutes=30)

    async def figures_agree() -> bool:
        for group_by in ("source", "manager", "campaign"):
            for start in (None, since):
                query = {"created_at": {"$gte": start}} if start else {}
                stored = await db["leads"].find(query).to_list()
                if await store.figures(group_by, start=start, end=None) != lead_figures(stored, group_by):
                    return False
        return True

    await eventually(figures_agree, timeout=15)


async def test_nobody_on_duty_waits_for_the_shift_or_goes_to_the_head_per_source(hub):
    async with hub.client() as http:
        waiting = (await hub.submit(http, {"phone": phone()}, key=f"{SECRET}-night")).json()["lead_id"]
        to_head = (await hub.submit(http, {"phone": phone()}, key=f"{SECRET}-nighthead")).json()["lead_id"]
        parked = await hub.lead(http, waiting)
        headed = await hub.lead(http, to_head)
    assert parked["status"] == "new"
    assert parked["manager_id"] is None
    retry_at = datetime.fromisoformat(parked["assign_after"])
    assert (
        timedelta(hours=1) < retry_at - datetime.now(UTC) < timedelta(hours=4)
    )  # the sleeper's shift starts in 2-3 hours
    assert headed["manager_id"] == hub.head
    assert headed["status"] == "assigned"
    await asyncio.sleep(1)  # a few scheduler rounds: the parked lead must stay parked
    async with hub.client() as http:
        assert (await hub.lead(http, waiting))["status"] == "new"
        # the head takes the lead given to them as themselves, as a manager would: naming nobody
        head = person_headers(hub.head, "head", department_id=hub.board)
        taken = await http.post(f"/v1/leads/{to_head}/take", json={}, headers=head)
    assert taken.status_code == 200, taken.text
    assert (taken.json()["status"], taken.json()["manager_id"]) == ("in_work", hub.head)


async def test_a_head_sees_the_leads_of_the_departments_they_head_beside_their_own(hub):
    """The head here is in the board and heads the sales department (and the night shift)."""
    async with hub.client() as http:
        lead_id = (await hub.submit(http, {"phone": phone()})).json()["lead_id"]
        lead = await hub.lead(http, lead_id)
        assert lead["department_id"] == hub.department
        head = person_headers(hub.head, "head")
        seen = await http.get(f"/v1/leads/{lead_id}", headers=head)
        listed = await http.get("/v1/leads", params={"manager": lead["manager_id"]}, headers=head)
        outsider = await http.get(f"/v1/leads/{lead_id}", headers=person_headers(hub.sleeper, "head"))
    assert seen.status_code == 200, seen.text
    assert lead_id in [item["id"] for item in listed.json()["items"]]
    assert outsider.status_code == 404  # the night shift's own member, not its head: not theirs


async def test_fairness_survives_a_restart_of_the_service(hub):
    async with hub.client() as http:
        for _ in range(4):  # end on m0, so a cursor lost in the restart would show
            lead_id = (await hub.submit(http, {"phone": phone()})).json()["lead_id"]
            if (await hub.lead(http, lead_id))["manager_id"] == hub.managers[0]:
                break
        assert (await hub.lead(http, lead_id))["manager_id"] == hub.managers[0]
    hub.leads.stop()
    hub.start_leads()
    async with hub.client() as http:
        after = []
        for _ in range(2):
            lead_id = (await hub.submit(http, {"phone": phone()})).json()["lead_id"]
            after.append((await hub.lead(http, lead_id))["manager_id"])
    assert after == hub.managers[1:3]


async def test_two_instances_share_the_load_with_fair_rotation_and_exact_claims(hub):
    """Two leads processes on one database and one set of consumer groups, as replicas behind a
    load balancer: requests alternate between them, and all at once."""
    second = hub.spawn_leads()
    try:
        async with (
            hub.client() as first_http,
            httpx.AsyncClient(base_url=second.address, timeout=15, headers=admin_headers()) as second_http,
        ):
            instances = (first_http, second_http)
            fresh = await asyncio.gather(*(hub.submit(instances[i % 2], {"phone": phone()}) for i in range(30)))
            # one submission retried on both at once, one person writing to both at once
            body = {"phone": phone(), "message": "retried"}
            key = {"Idempotency-Key": f"both-{phone()}"}
            retried = await asyncio.gather(*(hub.submit(instances[i % 2], body, headers=key) for i in range(6)))
            number = phone()
            person = await asyncio.gather(
                *(hub.submit(instances[i % 2], {"phone": number, "message": f"{i}"}) for i in range(6))
            )
            owners = Counter([(await hub.lead(first_http, r.json()["lead_id"]))["manager_id"] for r in fresh])
            merged = await hub.lead(second_http, person[0].json()["lead_id"])
    finally:
        second.stop()
    assert {r.status_code for r in [*fresh, *retried, *person]} == {202}
    assert len({r.json()["lead_id"] for r in fresh}) == 30
    assert sorted(owners.values()) == [10, 10, 10], owners  # the rotation cursor is shared, not per process
    assert set(owners) == set(hub.managers)
    assert len({r.json()["lead_id"] for r in retried}) == 1
    assert Counter(r.json()["status"] for r in retried) == {"created": 1, "repeated": 5}
    assert len({r.json()["lead_id"] for r in person}) == 1
    assert merged["touch_count"] == 6


def _call(
    event_class,
    *,
    caller: str,
    outcome: str,
    manager_id: str | None = None,
    campaign: str = "radio",
    call_id: str | None = None,
):
    now = datetime.now(UTC)
    call = CallRecord(
        call_id=call_id or f"call-{phone()[-7:]}",
        provider_id="pbx",
        provider_call_id="x",
        direction="inbound",
        caller=caller,
        callee="+74950000000",
        line="+74951110000",
        campaign=campaign,
        manager_id=manager_id,
        started_at=now - timedelta(minutes=2),
        answered_at=now - timedelta(minutes=1) if outcome == "answered" else None,
        ended_at=now,
        outcome=outcome,
    )
    record = to_record(new_event(event_class(call=call), source="/crm/telephony", subject=call.call_id))
    return call, (record.key, record.value, record.headers)


async def test_calls_from_unknown_numbers_become_leads_and_known_ones_touches(hub):
    caller = phone()
    missed, m1 = _call(CallMissed, caller=caller, outcome="missed", campaign="radio-fm")
    again, m2 = _call(CallCompleted, caller=caller, outcome="answered", manager_id=hub.managers[1])
    answered_caller = phone()
    _, m3 = _call(CallCompleted, caller=answered_caller, outcome="answered", manager_id=hub.managers[2])
    async with hub.client() as http:

        async def leads_from_calls():
            page = (await http.get("/v1/leads", params={"source": hub.source("phone")})).json()
            return {
                item["contact"]["phone"]: item
                for item in page["items"]
                if item["contact"]["phone"] in (caller, answered_caller)
            }

        # The calls have different keys, so Kafka keeps no order between them: the second call
        # is made once the first one's lead exists, as it would be in life.
        await produce(hub.kafka, "crm.calls", [m1, m1])  # the first one delivered twice
        await eventually(lambda: _has(leads_from_calls, caller), timeout=60)
        await produce(hub.kafka, "crm.calls", [m2, m3])
        await eventually(lambda: _both(leads_from_calls), timeout=60)
        found = await leads_from_calls()
    lead = found[caller]
    assert lead["channel"] == "phone"
    assert lead["call_id"] == missed.call_id
    assert lead["utm"]["campaign"] == "radio-fm"
    assert lead["product"] == "звонок"
    assert lead["touch_count"] == 2
    assert lead["touches"][0]["call_id"] == again.call_id
    assert found[answered_caller]["manager_id"] == hub.managers[2]
    assert found[answered_caller]["assignments"][0]["reason"] == "call_answered"


async def _has(check, number):
    return number in await check()


async def _both(check):
    found = await check()
    return (
        len(found) == 2
        and found.get(next(iter(found)))["touch_count"] >= 1
        and any(item["touch_count"] == 2 for item in found.values())
    )
