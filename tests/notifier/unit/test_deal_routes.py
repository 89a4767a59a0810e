"""Deal and task events are routed by data alone: the shipped routing table sends each to the
right people, a rule's alert picks its template by `match`, nobody is told about what they did
themselves, and every shipped route's template renders in both languages for a real event."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crmhub.schemas import motivation as _motivation_events  # noqa: F401  (registers the plan and pay events)
from crmhub.schemas.deals import (
    DealAlert,
    DealSummary,
    TaskCancelled,
    TaskCompleted,
    TaskCreated,
    TaskOverdue,
    TaskSummary,
)
from crmhub.schemas.leads import LeadContact
from crmhub.schemas.team import Department
from notifier.adapters.routing_file import SHIPPED_ROUTES, load_routes
from notifier.adapters.templates import Templates
from notifier.domain.routing import RoutingError, parse_routes, recipients_for, route_for
from support.team import directory, manager

AT = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
TEAM = directory(
    manager("anna"),
    manager("olga", language="en"),
    manager("pavel", "production"),
    departments=(
        Department(id="sales", name="S", region="M", timezone="Europe/Moscow", head_manager_id="olga"),
        Department(id="production", name="P", region="M", timezone="Europe/Moscow"),
    ),
)
DEAL = DealSummary(
    deal_id="deal-1",
    title="Kitchen",
    pipeline_id="client_service",
    stage="production",
    manager_id="anna",
    department_id="sales",
    contact=LeadContact(name="Irina", phone="+79160000001"),
    amount="250000.00",
)
TASK = TaskSummary(
    task_id="deal-1-t3",
    title="Call about the payment",
    manager_id="anna",
    department_id="sales",
    due_at=AT,
    status="open",
    deal_id="deal-1",
    deal_title="Kitchen",
    rule_id="call_about_payment",
)


def alert(name: str, recipients: list[str]) -> dict[str, Any]:
    payload = DealAlert(
        deal=DEAL,
        alert=name,
        rule_id="r",
        audience=["head"],
        recipient_ids=recipients,
        manager_id="anna",
        head_manager_id="olga",
        text=None,
        at=AT,
    )
    return payload.model_dump(mode="json")


def who(event_type: str, payload: dict[str, Any], actor: str | None = None) -> tuple[str | None, list[str]]:
    route = route_for(SHIPPED_ROUTES, event_type, payload)
    if route is None:
        return None, []
    found = recipients_for(route, payload, TEAM, default_channels=("inbox",), actor=actor)
    return route.template, [r.manager_id for r in found]


def test_alerts_pick_their_route_by_match_and_reach_the_people_they_list():
    assert who("deal.alert", alert("negative_feedback", ["olga", "anna"])) == (
        "deal_negative_feedback",
        ["olga", "anna"],
    )
    assert who("deal.alert", alert("production_handover", ["pavel", "anna"])) == (
        "deal_production_handover",
        ["pavel", "anna"],
    )
    assert who("deal.alert", alert("deal_lost", ["olga"])) == ("deal_alert", ["olga"])
    assert route_for(SHIPPED_ROUTES, "deal.alert", alert("negative_feedback", [])).urgent  # type: ignore[union-attr]


def test_task_events_reach_the_manager_the_head_when_overdue_and_never_the_one_who_did_it():
    created = TaskCreated(task=TASK, manager_id="anna", at=AT).model_dump(mode="json")
    assert who("task.created", created) == ("task_created", ["anna"])
    # a rule's task reaches her even when her own action triggered the rule; one she set herself does not
    assert who("task.created", created, actor="manager:anna") == ("task_created", ["anna"])
    own = TASK.model_copy(update={"created_by": "manager:anna", "rule_id": None})
    assert who("task.created", TaskCreated(task=own, manager_id="anna", at=AT).model_dump(mode="json")) == (
        "task_created",
        [],
    )
    overdue = TaskOverdue(task=TASK, manager_id="anna", head_manager_id="olga", at=AT).model_dump(mode="json")
    assert who("task.overdue", overdue) == ("task_overdue", ["anna", "olga"])
    by_head = TASK.model_copy(update={"created_by": "manager:olga"})
    done = TaskCompleted(task=by_head, manager_id="anna", result="called", on_time=True, at=AT).model_dump(mode="json")
    assert who("task.completed", done, actor="manager:anna") == ("task_completed", ["olga"])
    assert who("task.completed", done, actor="manager:olga") == ("task_completed", [])
    cancelled = TaskCancelled(task=TASK, manager_id="anna", reason="payment_received recorded", at=AT)
    assert who("task.cancelled", cancelled.model_dump(mode="json")) == ("task_cancelled", ["anna"])


@pytest.mark.parametrize(
    "route", [r for r in SHIPPED_ROUTES if r.event_type.startswith(("task.", "deal."))], ids=lambda r: r.template
)
@pytest.mark.parametrize("language", ["ru", "en"])
def test_every_deal_and_task_template_renders_for_its_event(route, language):
    from crmhub.events import EVENT_TYPES

    cls = EVENT_TYPES[route.event_type]
    fields: dict[str, Any] = {
        "task": TASK,
        "deal": DEAL,
        "manager_id": "anna",
        "at": AT,
        "head_manager_id": "olga",
        "result": "done",
        "on_time": False,
        "reason": "the deal moved on",
        "previous_due_at": AT - timedelta(days=1),
        "previous_manager_id": "boris",
        "alert": dict(route.match).get("alert", ("deal_lost",))[0],
        "rule_id": "r",
        "audience": ["head"],
        "recipient_ids": ["olga"],
        "text": None,
    }
    payload = cls.model_validate({k: v for k, v in fields.items() if k in cls.model_fields}).model_dump(mode="json")
    message = Templates().render(route.template, language, payload, timezone="Europe/Moscow")
    assert message.subject
    assert ("Kitchen" in message.subject + message.text) or ("Call about the payment" in message.subject)


def test_routing_is_a_file_and_a_broken_one_is_refused(tmp_path: Path):
    path = tmp_path / "routing.json"
    path.write_text(json.dumps({"routes": [{"event_type": "task.due", "recipients": ["boss"], "template": "x"}]}))
    with pytest.raises(RoutingError, match="unknown recipient rule 'boss'"):
        load_routes(path)
    with pytest.raises(RoutingError, match="missing or malformed 'template'"):
        parse_routes({"routes": [{"event_type": "task.due", "recipients": ["manager"]}]})
    path.write_text(
        json.dumps({"routes": [{"event_type": "task.due", "recipients": ["manager"], "template": "task_due"}]})
    )
    [route] = load_routes(path)
    assert route.template == "task_due"


MOTIVATION_SAMPLES: dict[str, dict[str, Any]] = {
    "payout.calculated": {
        "period": "2026-09",
        "manager_id": "anna",
        "department_id": "sales",
        "revision": 1,
        "currency": "RUB",
        "base_salary": "60000",
        "salary_share_percent": "90",
        "salary": "54000.00",
        "commission_rate_percent": "5",
        "commission": "42500.00",
        "adjustments": "32.00",
        "total": "96532.00",
        "activity_fulfilment_percent": "89.00",
        "sales_fulfilment_percent": "85.00",
        "at": AT.isoformat(),
    },
    "plan.unrealistic": {
        "department_id": "sales",
        "head_manager_id": "olga",
        "periods": ["2026-07", "2026-08", "2026-09"],
        "missed_shares": ["0.8", "0.75", "1"],
        "threshold": "0.7",
        "at": AT.isoformat(),
    },
    "plan.review_suggested": {
        "department_id": "sales",
        "head_manager_id": "olga",
        "periods": ["2026-07"],
        "missed_shares": ["1"],
        "revenue": ["100"],
        "revenue_year_before": ["90"],
        "currency": "RUB",
        "at": AT.isoformat(),
    },
    "manager.underperforming": {
        "period": "2026-09",
        "manager_id": "anna",
        "department_id": "sales",
        "head_manager_id": "olga",
        "sales_fulfilment_percent": "40.00",
        "weakest_step": "meetings_held",
        "value": "0",
        "department_median": "3",
        "diagnosis": "meetings held: 0 against the department's median 3 (0 % of it)",
        "at": AT.isoformat(),
    },
}


@pytest.mark.parametrize("event_type", list(MOTIVATION_SAMPLES))
@pytest.mark.parametrize("language", ["ru", "en"])
def test_pay_and_plan_events_reach_the_right_person_in_their_language(event_type, language):
    from crmhub.events import EVENT_TYPES

    payload = EVENT_TYPES[event_type].model_validate(MOTIVATION_SAMPLES[event_type]).model_dump(mode="json")
    template, people = who(event_type, payload)
    assert people == (["anna"] if event_type == "payout.calculated" else ["olga"])
    message = Templates().render(str(template), language, payload, timezone="Europe/Moscow")
    assert message.subject
    assert ("2026-09" in message.subject + message.text) or ("sales" in message.subject + message.text)
