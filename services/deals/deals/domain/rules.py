"""Business-process rules as data, and the pure engine that decides what they do to a deal.

A rule is

- a trigger (`on`): an activity kind (`invoice_issued`, `feedback`, ...), `stage_entered:<stage>`,
  `stage_left:<stage>` or `deal_created`. Every such fact on the deal is one *occurrence* of
  the rule (key `<rule id>@<fact id>`);
- `when`: what must hold for its actions to run: the deal's pipeline, stage, product, amount
  (checked on the deal as it is when the actions run) and the trigger's sentiment;
- `after` (optional): a delay before the actions run, counted on a durable timer;
- `active_in` (optional) and `until`: how long the occurrence lives. While the deal is in one of
  the `active_in` stages (any stage when absent) and no `until` activity happened after the
  trigger, the occurrence's timer stays armed and its tasks stay open; once either fails, the
  timer is cancelled and the tasks with it (a paid invoice cancels "call about payment");
- `actions`: create a task (due after an offset in the responsible person's working time),
  move the deal, notify people by role, set a field.

An occurrence's actions run once. An `until` activity ends what the occurrence waits for and
sets (its timer, its tasks); its moves, alerts and fields, being steps of the process, still run.
An immediate rule whose `when` does not hold yet waits and runs as soon as it does (a payment recorded before the invoice stage moves the deal to
production once it gets there); a delayed rule checks `when` when its timer fires ("if the deal
is still in `decision` after 7 days") and does nothing if it no longer holds. Because liveness
depends on the *set* of facts and their own times (not on the order they arrived in) and
actions wait for their conditions, the open tasks come out the same for any arrival order of
the deal's events: the property tests check exactly that.

No I/O: `decide` reads a deal's facts and returns effects; the Deal aggregate applies them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from crmhub.schemas.deals import ACTIVITY_KINDS
from deals.domain.pipeline import Names, Process

RuleId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Audience = Literal["manager", "head", "production"]
Clock = Literal["calendar", "working"]
OFFSET = re.compile(r"^(\d{1,5})(s|m|h|d)$")
UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
FIELD_NAME = r"^[a-z][a-z0-9_]{0,39}$"
STAGE_TRIGGERS = ("stage_entered", "stage_left")


class RuleError(ValueError):
    """The rule set cannot run; the message names the rule and what is wrong with it."""


def parse_offset(text: str) -> timedelta:
    match = OFFSET.match(text)
    if match is None:
        raise ValueError(f"offset {text!r} is not <number><s|m|h|d>, e.g. 30m, 8h, 2d")
    return timedelta(seconds=int(match.group(1)) * UNIT_SECONDS[match.group(2)])


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Due(_Config):
    """When something is due: `after` an offset from now, counted on a `clock` (`working`: only
    the person's working time counts; whole days land on the same time of a later working day),
    or at the time found in the trigger's `details[at_detail]` (a date the client named)."""

    after: str = "0m"
    clock: Clock = "working"
    at_detail: str | None = Field(default=None, pattern=FIELD_NAME)

    @model_validator(mode="after")
    def _offset(self) -> Due:
        parse_offset(self.after)
        return self

    @property
    def offset(self) -> timedelta:
        return parse_offset(self.after)


class TaskAction(_Config):
    title: Names
    due: Due = Due()
    assignee: Literal["manager", "head"] = "manager"


class NotifyAction(_Config):
    to: list[Audience] = Field(min_length=1)
    alert: str = Field(pattern=FIELD_NAME)
    text: Names | None = None


class SetAction(_Config):
    field: str = Field(pattern=FIELD_NAME)
    value: str | int | float | bool | None


class Action(_Config):
    """Exactly one of: task, move_to, notify, set."""

    task: TaskAction | None = None
    move_to: str | None = None
    notify: NotifyAction | None = None
    set: SetAction | None = None

    @model_validator(mode="after")
    def _one(self) -> Action:
        given = [k for k in ("task", "move_to", "notify", "set") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"an action is exactly one of task, move_to, notify, set (got {given or 'none'})")
        return self


class When(_Config):
    pipeline: list[str] | None = None
    stage: list[str] | None = None
    product: list[str] | None = None
    amount_min: Decimal | None = None
    amount_max: Decimal | None = None
    sentiment: list[Literal["positive", "neutral", "negative"]] | None = None


class Rule(_Config):
    id: RuleId
    description: str = Field(min_length=1, max_length=500)
    on: str
    when: When = When()
    after: Due | None = None
    active_in: list[str] | None = None
    until: list[str] = []
    actions: list[Action] = Field(min_length=1, max_length=20)
    enabled: bool = True


class RuleSet(_Config):
    rules: list[Rule] = Field(max_length=500)


def load_rules(raw: Any, process: Process) -> list[Rule]:
    """Parse and check a rule set against the pipelines; RuleError names the first bad rule."""
    items = raw.get("rules") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise RuleError('a rule set is {"rules": [...]}')
    rules: list[Rule] = []
    for index, item in enumerate(items):
        name = item.get("id") if isinstance(item, dict) else None
        try:
            rule = Rule.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise RuleError(f"rule {name or f'#{index + 1}'}: {where}: {first['msg']}") from None
        check_rule(rule, process)
        rules.append(rule)
    ids = [r.id for r in rules]
    repeated = sorted({i for i in ids if ids.count(i) > 1})
    if repeated:
        raise RuleError(f"rule ids repeat: {', '.join(repeated)}")
    return [r for r in rules if r.enabled]


def check_rule(rule: Rule, process: Process) -> None:
    def fail(problem: str) -> None:
        raise RuleError(f"rule {rule.id}: {problem}")

    stages = process.all_stage_ids()
    kind, _, stage = rule.on.partition(":")
    if kind in STAGE_TRIGGERS:
        if stage not in stages:
            fail(f"on: unknown stage {stage!r}")
    elif rule.on != "deal_created" and rule.on not in ACTIVITY_KINDS:
        fail(
            f"on: unknown event {rule.on!r} (an activity kind, stage_entered:<stage>, stage_left:<stage>, deal_created)"
        )
    for pipeline in rule.when.pipeline or []:
        if not process.has_pipeline(pipeline):
            fail(f"when.pipeline: unknown pipeline {pipeline!r}")
    for where, names in (("when.stage", rule.when.stage), ("active_in", rule.active_in)):
        for name in names or []:
            if name not in stages:
                fail(f"{where}: unknown stage {name!r}")
    for until in rule.until:
        if until not in ACTIVITY_KINDS:
            fail(f"until: unknown activity {until!r}")
    if rule.when.sentiment and rule.on != "feedback":
        fail("when.sentiment applies to a feedback trigger only")
    for action in rule.actions:
        if action.move_to is not None:
            _check_move(rule, action.move_to, process, fail)
        if action.task and action.task.due.at_detail and rule.on not in ACTIVITY_KINDS:
            fail("task.due.at_detail needs an activity trigger")


def _check_move(rule: Rule, target: str, process: Process, fail: Any) -> None:
    pipelines = [p for p in process.pipelines if not rule.when.pipeline or p.id in rule.when.pipeline]
    if not any(p.has(target) for p in pipelines):
        fail(f"move_to: unknown stage {target!r}")
    if not rule.when.stage:
        fail(f"move_to {target!r} needs when.stage (the stages it moves from)")
    for pipeline in pipelines:
        for source in rule.when.stage or []:
            if pipeline.has(source) and pipeline.has(target) and target not in pipeline.allowed_from(source):
                fail(f"move_to: pipeline {pipeline.id} does not allow {source} -> {target}")


# --- the engine ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fact:
    """Something that happened to the deal: an activity, entering or leaving a stage, its creation."""

    id: str
    kind: str
    at: datetime
    sentiment: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # The order the deal learnt of it (0: its creation): breaks ties between facts of one moment.
    seq: int = 0

    def after(self, other: Fact) -> bool:
        return (self.at, self.seq) > (other.at, other.seq)


class DealFacts(Protocol):
    """What the engine reads of a deal."""

    @property
    def pipeline_id(self) -> str: ...
    @property
    def stage(self) -> str: ...
    @property
    def product(self) -> str | None: ...
    @property
    def amount(self) -> Decimal: ...
    @property
    def is_lost(self) -> bool: ...
    @property
    def fired(self) -> list[str]: ...
    @property
    def armed(self) -> list[str]: ...
    def facts(self) -> list[Fact]: ...
    def open_rule_tasks(self) -> set[str]:
        """Occurrence keys that have open tasks."""
        ...


@dataclass(frozen=True)
class Occurrence:
    rule: Rule
    fact: Fact

    @property
    def key(self) -> str:
        return f"{self.rule.id}@{self.fact.id}"


@dataclass(frozen=True)
class Fire:
    occurrence: Occurrence
    # False when an `until` activity already ended the occurrence: its moves, alerts and fields
    # still happen (they are facts of the process), the tasks it would set are not needed any more.
    with_tasks: bool = True


@dataclass(frozen=True)
class Arm:
    occurrence: Occurrence


@dataclass(frozen=True)
class Disarm:
    occurrence: Occurrence
    reason: str


@dataclass(frozen=True)
class Drop:
    """Cancel the occurrence's open tasks."""

    occurrence: Occurrence
    reason: str


Effect = Fire | Arm | Disarm | Drop


def _triggered_by(rule: Rule, fact: Fact) -> bool:
    if fact.kind != rule.on:
        return False
    return not (rule.when.sentiment and fact.sentiment not in rule.when.sentiment)


def occurrences(deal: DealFacts, rules: Sequence[Rule]) -> list[Occurrence]:
    facts = sorted(deal.facts(), key=lambda f: (f.at, f.seq))
    return [Occurrence(rule, fact) for fact in facts for rule in rules if _triggered_by(rule, fact)]


def stopped_by(occurrence: Occurrence, deal: DealFacts, facts: Iterable[Fact]) -> str | None:
    """What ended the occurrence for good (None: nothing did): an `until` activity after its
    trigger, or — for what waits (a delay, a task) — the deal being lost."""
    rule = occurrence.rule
    if deal.is_lost and (rule.after is not None or any(a.task for a in rule.actions)):
        return "the deal was lost"  # what waits ends; one-off alerts (negative feedback) still go
    for fact in facts:
        if fact.kind in rule.until and fact.after(occurrence.fact):
            return f"{fact.kind} recorded"
    return None


def in_scope(rule: Rule, deal: DealFacts) -> bool:
    return rule.active_in is None or deal.stage in rule.active_in


def holds(rule: Rule, deal: DealFacts) -> bool:
    """Whether the rule's actions may run on the deal as it is (without `when.stage`, a rule
    runs in its `active_in` stages: a task is not set where it would be cancelled at once)."""
    when = rule.when
    if when.pipeline and deal.pipeline_id not in when.pipeline:
        return False
    if when.stage is not None:
        if deal.stage not in when.stage:
            return False
    elif not in_scope(rule, deal):
        return False
    if when.product and deal.product not in when.product:
        return False
    if when.amount_min is not None and deal.amount < when.amount_min:
        return False
    return not (when.amount_max is not None and deal.amount > when.amount_max)


def decide(deal: DealFacts, rules: Sequence[Rule]) -> list[Effect]:
    """What the rules want done to the deal now. Applying the effects and deciding again
    reaches a fixed point (the aggregate loops, with a bound, until nothing is left)."""
    facts = deal.facts()
    fired = set(deal.fired)
    armed = set(deal.armed)
    with_tasks = deal.open_rule_tasks()
    effects: list[Effect] = []
    for occurrence in occurrences(deal, rules):
        key = occurrence.key
        rule = occurrence.rule
        stopped = stopped_by(occurrence, deal, facts)
        ended = stopped or (None if in_scope(rule, deal) else f"the deal moved to {deal.stage}")
        if ended is not None:
            if key in armed:
                effects.append(Disarm(occurrence, ended))
            if key in with_tasks:
                effects.append(Drop(occurrence, ended))
        if key in fired:
            continue
        if rule.after is not None:
            if key not in armed and ended is None:
                effects.append(Arm(occurrence))
        elif holds(rule, deal) and (stopped is None or not all(a.task for a in rule.actions)):
            effects.append(Fire(occurrence, with_tasks=stopped is None))
            return effects  # a firing may move the deal: decide again on the new state
    return effects


def due_timer_fires(deal: DealFacts, rules: Sequence[Rule], key: str) -> tuple[Occurrence, bool] | None:
    """A delayed occurrence's timer fired: (the occurrence, whether its `when` holds), or None when
    there is nothing to do (it ended, fired already, or its rule is gone)."""
    facts = deal.facts()
    for occurrence in occurrences(deal, rules):
        if occurrence.key == key:
            if key in deal.fired or stopped_by(occurrence, deal, facts) is not None:
                return None
            if not in_scope(occurrence.rule, deal):
                return None
            return occurrence, holds(occurrence.rule, deal)
    return None
