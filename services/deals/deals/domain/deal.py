"""The Deal aggregate ("работа"): where it stands in its pipeline, its products and amount, its
activities, its stage history, and the tasks and rule timers the business-process rules gave
it. Every change records its events on the deal itself and runs the rules (`deals.domain.rules`)
to a fixed point in the same change, so a move, the tasks it sets or cancels and the timers it
arms or disarms are one document update. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from crmhub.schemas.deals import (
    ActivityKind,
    DealActivityRecorded,
    DealAlert,
    DealCreated,
    DealStageChanged,
    DealSummary,
    DealUpdated,
    Sentiment,
)
from crmhub.schemas.leads import LeadContact
from deals.domain.pipeline import Pipeline, Process
from deals.domain.rules import Action, Arm, Disarm, Drop, Fact, Fire, Occurrence, Rule, decide, due_timer_fires
from deals.domain.tasks import TaskHolder, Team

RULE_TIMER = "deals.rule"
ACTIVITIES_KEPT = 2000
MAX_RULE_ROUNDS = 50


class DealRefused(ValueError):
    """The request is understood but breaks a rule of the deal (HTTP 422, naming the field)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


@dataclass(frozen=True)
class Playbook:
    """The pipelines and the active rules: what every change of a deal is checked against."""

    process: Process
    rules: tuple[Rule, ...]

    def pipeline(self, pipeline_id: str) -> Pipeline:
        return self.process.pipeline(pipeline_id)


class ProductLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    name: str
    quantity: Decimal
    price: Decimal

    @property
    def total(self) -> Decimal:
        return self.quantity * self.price


class Activity(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    id: str
    kind: ActivityKind
    at: datetime
    recorded_at: datetime
    manager_id: str | None = None
    by: str | None = None
    text: str | None = None
    amount: Decimal | None = None
    sentiment: Sentiment | None = None
    details: dict[str, Any] = {}
    seq: int = 0


class StageVisit(BaseModel):
    model_config = ConfigDict(extra="ignore")

    number: int
    stage: str
    entered_at: datetime
    left_at: datetime | None = None
    by: str | None = None
    rule_id: str | None = None
    seq: int = 0
    left_seq: int | None = None


class Deal(TaskHolder):
    title: str
    pipeline_id: str
    stage: str
    outcome: Literal["open", "won", "lost"] = "open"
    manager_id: str | None = None
    department_id: str | None = None
    contact: LeadContact = LeadContact()
    region: str | None = None
    product: str | None = None
    source_id: str | None = None
    campaign: str | None = None
    lead_id: str | None = None
    products: list[ProductLine] = []
    currency: str = "RUB"
    amount: Decimal = Decimal(0)
    fields: dict[str, Any] = {}
    activities: list[Activity] = []
    activity_seq: int = 0
    history: list[StageVisit] = []
    fact_seq: int = 0
    fired: list[str] = []
    armed: list[str] = []
    lost_reason: str | None = None
    lost_comment: str | None = None
    created_at: datetime
    closed_at: datetime | None = None

    # --- reading ---------------------------------------------------------------------------------

    def summary(self) -> DealSummary:
        return DealSummary(
            deal_id=self.id,
            title=self.title,
            pipeline_id=self.pipeline_id,
            stage=self.stage,
            manager_id=self.manager_id,
            department_id=self.department_id,
            contact=self.contact,
            amount=self.amount,
            currency=self.currency,
            region=self.region,
            product=self.product,
        )

    def _task_context(self) -> tuple[str | None, str | None, LeadContact | None]:
        return self.id, self.title, self.contact

    @property
    def is_lost(self) -> bool:
        return self.outcome == "lost"

    def facts(self) -> list[Fact]:
        found = [Fact("created", "deal_created", self.created_at)]
        for a in self.activities:
            found.append(Fact(a.id, a.kind, a.at, a.sentiment, a.details, a.seq))
        for visit in self.history:
            found.append(Fact(f"s{visit.number}", f"stage_entered:{visit.stage}", visit.entered_at, seq=visit.seq))
            if visit.left_at is not None:
                found.append(
                    Fact(f"s{visit.number}-left", f"stage_left:{visit.stage}", visit.left_at, seq=visit.left_seq or 0)
                )
        return found

    def _next_seq(self) -> int:
        self.fact_seq += 1
        return self.fact_seq

    def open_rule_tasks(self) -> set[str]:
        return {t.occurrence for t in self.tasks if t.status == "open" and t.occurrence}

    # --- creation --------------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        deal_id: str,
        *,
        playbook: Playbook,
        team: Team,
        now: datetime,
        title: str,
        pipeline_id: str,
        manager_id: str | None,
        contact: LeadContact = LeadContact(),
        region: str | None = None,
        product: str | None = None,
        products: list[ProductLine] | None = None,
        amount: Decimal | None = None,
        currency: str = "RUB",
        source_id: str | None = None,
        campaign: str | None = None,
        lead_id: str | None = None,
        created_by: str | None = None,
    ) -> Deal:
        pipeline = playbook.pipeline(pipeline_id)
        lines = products or []
        deal = cls(
            id=deal_id,
            title=title,
            pipeline_id=pipeline_id,
            stage=pipeline.first.id,
            manager_id=manager_id,
            department_id=team.department_of(manager_id),
            contact=contact,
            region=region,
            product=product,
            products=lines,
            amount=sum((line.total for line in lines), Decimal(0)) if lines else (amount or Decimal(0)),
            currency=currency,
            source_id=source_id,
            campaign=campaign,
            lead_id=lead_id,
            created_at=now,
            history=[StageVisit(number=1, stage=pipeline.first.id, entered_at=now, by=created_by, seq=1)],
            fact_seq=1,
        )
        if created_by:
            deal.acting(created_by)
        deal.record_event(
            DealCreated(deal=deal.summary(), lead_id=lead_id, source_id=source_id, campaign=campaign, created_at=now),
            at=now,
        )
        deal.run_rules(playbook, team, now)
        return deal

    # --- moves -----------------------------------------------------------------------------------

    def move(
        self,
        to: str,
        *,
        playbook: Playbook,
        team: Team,
        now: datetime,
        by: str | None = None,
        lost_reason: str | None = None,
        comment: str | None = None,
    ) -> None:
        pipeline = playbook.pipeline(self.pipeline_id)
        target = pipeline.check_move(self.stage, to)
        if target.kind == "lost":
            if lost_reason not in playbook.process.lost_reason_ids():
                raise DealRefused(
                    "reason",
                    f"a lost deal needs a reason from the list: {', '.join(playbook.process.lost_reason_ids())}",
                )
            if not (comment or "").strip():
                raise DealRefused("comment", "a lost deal needs a comment saying what happened")
        self._enter(pipeline, to, now=now, by=by, lost_reason=lost_reason, comment=comment)
        self.run_rules(playbook, team, now)

    def _enter(
        self,
        pipeline: Pipeline,
        to: str,
        *,
        now: datetime,
        by: str | None = None,
        rule_id: str | None = None,
        lost_reason: str | None = None,
        comment: str | None = None,
    ) -> None:
        current = self.history[-1]
        current.left_at = now
        current.left_seq = self._next_seq()
        days = max(0.0, (now - current.entered_at).total_seconds() / 86400)
        previous = self.stage
        target = pipeline.stage(to)
        self.stage = to
        self.history.append(
            StageVisit(
                number=current.number + 1, stage=to, entered_at=now, by=by, rule_id=rule_id, seq=self._next_seq()
            )
        )
        if target.kind != "open":
            self.outcome = target.kind
            self.closed_at = now
        if target.kind == "lost":
            self.lost_reason = lost_reason
            self.lost_comment = comment
        self.record_event(
            DealStageChanged(
                deal=self.summary(),
                from_stage=previous,
                to_stage=to,
                outcome=target.kind,
                days_in_previous_stage=round(days, 4),
                rule_id=rule_id,
                lost_reason=lost_reason,
                comment=comment,
                at=now,
            ),
            at=now,
        )
        if target.kind == "lost":
            for task in self.open_tasks():
                self.cancel_task(task.id, reason=f"the deal was lost ({lost_reason})", by=by, now=now)

    # --- activities ------------------------------------------------------------------------------

    def has_activity(self, activity_id: str) -> bool:
        return any(a.id == activity_id for a in self.activities)

    def record_activity(
        self,
        *,
        activity_id: str | None,
        kind: ActivityKind,
        happened_at: datetime,
        playbook: Playbook,
        team: Team,
        now: datetime,
        by: str | None = None,
        manager_id: str | None = None,
        text: str | None = None,
        amount: Decimal | None = None,
        sentiment: Sentiment | None = None,
        details: dict[str, Any] | None = None,
    ) -> Activity | None:
        """Record it and run the rules; None when an activity with that id is recorded already."""
        if kind == "feedback" and sentiment is None:
            raise DealRefused("sentiment", "feedback needs a sentiment: positive, neutral or negative")
        self.activity_seq += 1
        activity_id = activity_id or f"a{self.activity_seq}"
        if self.has_activity(activity_id):
            self.activity_seq -= 1
            return None
        activity = Activity(
            id=activity_id,
            kind=kind,
            at=happened_at,
            recorded_at=now,
            manager_id=manager_id or self.manager_id,
            by=by,
            text=text,
            amount=amount,
            sentiment=sentiment,
            details=details or {},
            seq=self._next_seq(),
        )
        self.activities.append(activity)
        if len(self.activities) > ACTIVITIES_KEPT:
            self.activities = self.activities[-ACTIVITIES_KEPT:]
        self.record_event(
            DealActivityRecorded(
                deal=self.summary(),
                activity_id=activity.id,
                kind=kind,
                manager_id=activity.manager_id,
                department_id=team.department_of(activity.manager_id) or self.department_id,
                happened_at=happened_at,
                amount=amount,
                sentiment=sentiment,
                text=text,
                details=activity.details,
            ),
            at=now,
        )
        self.run_rules(playbook, team, now)
        return activity

    # --- changes of the deal's own data -----------------------------------------------------------

    def update(
        self,
        *,
        team: Team,
        playbook: Playbook,
        now: datetime,
        title: str | None = None,
        manager_id: str | None = None,
        products: list[ProductLine] | None = None,
        amount: Decimal | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        changes: dict[str, Any] = {}
        previous_manager = self.manager_id
        if title is not None and title != self.title:
            self.title = changes["title"] = title
        if manager_id is not None and manager_id != self.manager_id:
            self.manager_id = changes["manager_id"] = manager_id
            self.department_id = team.department_of(manager_id)
            changes["department_id"] = self.department_id
        if products is not None:
            self.products = products
            self.amount = sum((line.total for line in products), Decimal(0))
            changes["products"] = [p.model_dump(mode="json") for p in products]
            changes["amount"] = str(self.amount)
        elif amount is not None and amount != self.amount:
            self.amount = amount
            changes["amount"] = str(amount)
        for name, value in (fields or {}).items():
            if self.fields.get(name) != value:
                self.fields[name] = value
                changes[f"fields.{name}"] = value
        if not changes:
            return
        self.record_event(
            DealUpdated(
                deal=self.summary(),
                changes=changes,
                previous_manager_id=previous_manager if "manager_id" in changes else None,
                at=now,
            ),
            at=now,
        )
        self.run_rules(playbook, team, now)

    # --- the rules -------------------------------------------------------------------------------

    def run_rules(self, playbook: Playbook, team: Team, now: datetime) -> None:
        """Apply what the rules decide until nothing is left (bounded: a rule set that moves a
        deal back and forth forever stops after MAX_RULE_ROUNDS)."""
        for _ in range(MAX_RULE_ROUNDS):
            effects = decide(self, playbook.rules)
            if not effects:
                return
            for effect in effects:
                if isinstance(effect, Fire):
                    self._fire(effect.occurrence, playbook, team, now, with_tasks=effect.with_tasks)
                elif isinstance(effect, Arm):
                    self._arm(effect.occurrence, team, now)
                elif isinstance(effect, Disarm):
                    self.armed = [k for k in self.armed if k != effect.occurrence.key]
                    self.cancel_timer(RULE_TIMER, subject=f"{self.id}/{effect.occurrence.key}")
                elif isinstance(effect, Drop):
                    for task in self.open_tasks():
                        if task.occurrence == effect.occurrence.key:
                            self.cancel_task(task.id, reason=effect.reason, by=None, now=now)

    def _arm(self, occurrence: Occurrence, team: Team, now: datetime) -> None:
        assert occurrence.rule.after is not None
        due_at = team.due(self.manager_id, now, occurrence.rule.after, occurrence.fact.details)
        self.armed = [*self.armed, occurrence.key]
        self.schedule(
            RULE_TIMER,
            due_at,
            {"deal_id": self.id, "occurrence": occurrence.key},
            subject=f"{self.id}/{occurrence.key}",
        )

    def rule_timer_fired(self, occurrence_key: str, *, playbook: Playbook, team: Team, now: datetime) -> None:
        """A delayed rule's time came: run its actions if its `when` still holds."""
        found = due_timer_fires(self, playbook.rules, occurrence_key)
        self.armed = [k for k in self.armed if k != occurrence_key]
        if found is None:
            self.run_rules(playbook, team, now)
            return
        occurrence, holds = found
        if holds:
            self._fire(occurrence, playbook, team, now)
        else:
            self.fired = [*self.fired, occurrence.key]  # its moment passed with the condition unmet
        self.run_rules(playbook, team, now)

    def _fire(
        self, occurrence: Occurrence, playbook: Playbook, team: Team, now: datetime, *, with_tasks: bool = True
    ) -> None:
        self.fired = [*self.fired, occurrence.key]
        for action in occurrence.rule.actions:
            if action.task is None or with_tasks:
                self._act(action, occurrence, playbook, team, now)

    def _act(self, action: Action, occurrence: Occurrence, playbook: Playbook, team: Team, now: datetime) -> None:
        rule = occurrence.rule
        if action.task is not None:
            assignee = self.manager_id if action.task.assignee == "manager" else team.head_of(self.manager_id)
            if assignee is None or self.is_lost:
                return
            self.add_task(
                title=getattr(action.task.title, team.language),
                manager_id=assignee,
                due_at=team.due(assignee, now, action.task.due, occurrence.fact.details),
                now=now,
                team=team,
                rule_id=rule.id,
                occurrence=occurrence.key,
            )
        elif action.move_to is not None:
            pipeline = playbook.pipeline(self.pipeline_id)
            if pipeline.has(action.move_to) and action.move_to in pipeline.allowed_from(self.stage):
                self._enter(pipeline, action.move_to, now=now, rule_id=rule.id)
        elif action.notify is not None:
            head = team.head_of(self.manager_id)
            recipients: list[str] = []
            for audience in action.notify.to:
                if audience == "manager" and self.manager_id:
                    recipients.append(self.manager_id)
                elif audience == "head" and head:
                    recipients.append(head)
                elif audience == "production":
                    recipients.extend(team.production())
            self.record_event(
                DealAlert(
                    deal=self.summary(),
                    alert=action.notify.alert,
                    rule_id=rule.id,
                    audience=list(action.notify.to),
                    recipient_ids=list(dict.fromkeys(recipients)),
                    manager_id=self.manager_id,
                    head_manager_id=head,
                    text=getattr(action.notify.text, team.language) if action.notify.text else None,
                    at=now,
                ),
                at=now,
            )
        elif action.set is not None and self.fields.get(action.set.field) != action.set.value:
            self.fields[action.set.field] = action.set.value
            self.record_event(
                DealUpdated(
                    deal=self.summary(),
                    changes={f"fields.{action.set.field}": action.set.value},
                    rule_id=rule.id,
                    at=now,
                ),
                at=now,
            )
