"""The motivation use cases: count what managers did, set plans and pay rules, explain a payout,
close and reopen a month, and read the funnel."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from crmhub.aggregate_store import storable
from crmhub.audit import Caller, audit_record
from crmhub.events import CloudEvent, new_event
from crmhub.mongo import Document
from crmhub.schemas.motivation import (
    ManagerUnderperforming,
    PayoutCalculated,
    PeriodClosed,
    PeriodReopened,
    PlanReviewSuggested,
    PlanSet,
    PlanUnrealistic,
)
from crmhub.schemas.team import Manager
from crmhub.team_directory import TeamDirectory
from motivation.adapters.pay_store import Counted, PayStore
from motivation.domain.activity import FUNNEL_STEPS, counts_of, period_days, period_of, previous_period, year_before
from motivation.domain.pay import EXAMPLE_RULES, Facts, PayRules, Plan, payout, shown
from motivation.domain.realism import conversions, diagnose, missed_share, unrealistic

SOURCE = "/crm/motivation"
PLAN_LOOKBACK = 24


class PeriodClosedError(Exception):
    """The period is closed: reopen it first (HTTP 409)."""


class UnknownEntity(LookupError):
    """A department or manager the directory does not know (HTTP 422 naming the field)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


class StalePlan(Exception):
    """The plan changed since the caller read it (HTTP 409)."""


@dataclass
class Pay:
    store: PayStore
    directory: TeamDirectory
    now: Callable[[], datetime]
    period_start_day: int = 1
    unrealistic_share: Decimal = Decimal("0.7")
    unrealistic_months: int = 3
    few_share: Decimal = Decimal("0.3")
    default_rules: PayRules = field(default=EXAMPLE_RULES)

    def timezone_of(self, manager: Manager) -> str:
        department = self.directory.department(manager.department_id)
        return department.timezone if department else "UTC"

    def local_day(self, manager: Manager, moment: datetime) -> date:
        return moment.astimezone(ZoneInfo(self.timezone_of(manager))).date()


# --- counting ---------------------------------------------------------------------------------------


async def count_event(deps: Pay, event: CloudEvent) -> bool:
    """Count an event for its manager, in the period and time zone where it happened. An event
    for a manager the directory does not know is parked until they appear."""
    return await count_events(deps, [event]) == 1


async def count_events(deps: Pay, events: list[CloudEvent]) -> int:
    """Count a batch from the consumer in one round trip, each event guarded by where it was read
    (crmhub.mongo.update_many_once). An event for a manager the directory does not know yet is
    parked; a parked event comes again only if its poll was not committed, and is left to
    `count_parked`, which counts it by its id, so that it counts once either way."""
    wanted = [(event, counts) for event in events if (counts := counts_of(event.type, event.data, event.time))]
    parked = await deps.store.parked_among(event.id for event, _ in wanted if event.position is not None)
    batch: list[Counted] = []
    for event, counts in wanted:
        if event.id in parked:
            continue
        manager_id = counts[0].manager_id
        manager = deps.directory.manager(manager_id)
        if manager is None:
            await deps.store.park(event, manager_id, deps.now())
            continue
        day = deps.local_day(manager, counts[0].at)
        period = period_of(day, deps.period_start_day)
        batch.append(Counted(event.id, tuple(counts), manager_id, manager.department_id, day, period, event.position))
    return await deps.store.count_many(batch)


async def count_parked(deps: Pay) -> int:
    """Count the parked events whose manager the directory knows by now."""
    counted = 0
    for doc in await deps.store.parked_events():
        if deps.directory.manager(doc["manager_id"]) is None:
            continue
        await count_event(deps, CloudEvent.model_validate(doc["event"]))
        await deps.store.unpark(doc["_id"])
        counted += 1
    return counted


# --- plans and pay rules ------------------------------------------------------------------------------


def _plan_key(period: str, scope: str, scope_id: str) -> str:
    return f"{period}:{scope}:{scope_id}"


async def set_plan(
    deps: Pay, caller: Caller, period: str, scope: str, scope_id: str, plan: Plan, expected_version: int | None
) -> tuple[Document, bool]:
    if scope == "department" and deps.directory.department(scope_id) is None:
        raise UnknownEntity("department_id", f"no department {scope_id!r}")
    if scope == "manager" and deps.directory.manager(scope_id) is None:
        raise UnknownEntity("manager_id", f"no manager {scope_id!r}")
    state = await deps.store.period(period)
    if state and state.get("state") == "closed":
        raise PeriodClosedError(f"period {period} is closed; reopen it to change its plans")
    key = _plan_key(period, scope, scope_id)
    existing = await deps.store.plan(key)
    version = existing["version"] if existing else None
    if expected_version is not None and expected_version != (version or 0):
        raise StalePlan(f"the plan is at version {version or 0}, not {expected_version}")
    now = deps.now()
    body = {
        "period": period,
        "scope": scope,
        "scope_id": scope_id,
        **plan.model_dump(mode="json"),
        "set_by": caller.actor,
    }
    event = new_event(
        PlanSet(
            period=period,
            scope=scope,
            scope_id=scope_id,
            activity=body["activity"],
            sales_target=plan.sales_target,
            currency=plan.currency,
            version=(version or 0) + 1,
            at=now,
        ),
        source=SOURCE,
        subject=f"{scope}:{scope_id}",
        time=now,
        actor=caller.actor,
    )
    stored = await deps.store.put_plan(key, body, event, version)
    if not stored:
        raise StalePlan("the plan changed meanwhile; read it again")
    return {**body, "version": stored}, version is None


@dataclass
class PayBook:
    """The plans, tier tables and pay profiles a calculation needs, read once: a close for
    thousands of managers resolves them in memory instead of a lookup per manager and period."""

    plans: dict[str, Document]
    rules: dict[str, Document]
    profiles: dict[str, Document]

    def plan(self, period: str, scope: str, scope_id: str) -> tuple[Plan, str] | None:
        """The plan in force: the one set for the period, else the latest one before it."""
        candidate = period
        for _ in range(PLAN_LOOKBACK):
            doc = self.plans.get(_plan_key(candidate, scope, scope_id))
            if doc is not None:
                return Plan.model_validate({k: doc[k] for k in ("activity", "sales_target", "currency")}), candidate
            candidate = previous_period(candidate)
        return None

    def manager_plan(self, period: str, manager: Manager) -> tuple[Plan, str, str] | None:
        """(plan, where it comes from, the period it was set for): the manager's own, else the department's."""
        own = self.plan(period, "manager", manager.id)
        if own is not None:
            return own[0], "individual", own[1]
        shared = self.plan(period, "department", manager.department_id)
        if shared is not None:
            return shared[0], "department", shared[1]
        return None

    def rules_for(self, department_id: str, default: PayRules) -> tuple[PayRules, str]:
        doc = self.rules.get(department_id)
        if doc is None:
            return default, "example defaults"
        return PayRules.model_validate({k: v for k, v in doc.items() if k != "_id"}), f"department {department_id}"


async def pay_book(deps: Pay, period: str, manager_ids: list[str]) -> PayBook:
    return PayBook(
        plans=await deps.store.plans_up_to(period),
        rules=await deps.store.all_pay_rules(),
        profiles=await deps.store.profiles_of(manager_ids),
    )


async def plans_only(deps: Pay, period: str) -> PayBook:
    return PayBook(plans=await deps.store.plans_up_to(period), rules={}, profiles={})


async def effective_plan(deps: Pay, period: str, scope: str, scope_id: str) -> tuple[Plan, str] | None:
    return (await plans_only(deps, period)).plan(period, scope, scope_id)


async def manager_plan(deps: Pay, period: str, manager: Manager) -> tuple[Plan, str, str] | None:
    return (await plans_only(deps, period)).manager_plan(period, manager)


async def rules_for(deps: Pay, department_id: str) -> tuple[PayRules, str]:
    doc = await deps.store.pay_rules(department_id)
    book = PayBook(plans={}, rules={department_id: doc} if doc else {}, profiles={})
    return book.rules_for(department_id, deps.default_rules)


# --- payouts ------------------------------------------------------------------------------------------


def facts_of(doc: Document | None, currency: str) -> Facts:
    if doc is None:
        return Facts()
    return Facts(
        counts={k: int(v) for k, v in (doc.get("kpis") or {}).items()},
        revenue_minor=int((doc.get("revenue") or {}).get(currency, 0)),
        refs={k: list(v) for k, v in (doc.get("refs") or {}).items()},
    )


def managers_of(deps: Pay, department_id: str | None = None) -> list[Manager]:
    return sorted(
        (m for m in deps.directory.managers.values() if department_id is None or m.department_id == department_id),
        key=lambda m: m.id,
    )


async def explain(
    deps: Pay, period: str, manager: Manager, counters: Document | None = None, book: PayBook | None = None
) -> dict[str, Any] | None:
    """A manager's payout for a period as it stands now, with its explanation (None: no plan)."""
    if book is None:
        book = await pay_book(deps, period, [manager.id])
        counters = (await deps.store.months(period, [manager.id])).get(manager.id)
    found = book.manager_plan(period, manager)
    if found is None:
        return None
    plan, plan_source, plan_period = found
    rules, rules_source = book.rules_for(manager.department_id, deps.default_rules)
    profile = book.profiles.get(manager.id)
    base = Decimal(str(profile["base_salary"])) if profile else Decimal(0)
    result = payout(plan, rules, facts_of(counters, plan.currency), base_salary=base)
    return {
        "period": period,
        "manager_id": manager.id,
        "department_id": manager.department_id,
        "plan": {"source": plan_source, "set_for": plan_period, **plan.model_dump(mode="json")},
        "rules": rules_source,
        "base_salary_source": "pay profile" if profile else "no pay profile: base salary 0",
        "currency": plan.currency,
        "salary": result.salary,
        "commission": result.commission,
        "total": result.total,
        "activity_fulfilment_percent": shown(result.activity_percent),
        "sales_fulfilment_percent": shown(result.sales_percent) if result.sales_percent is not None else None,
        "salary_share_percent": result.salary_share_percent,
        "commission_rate_percent": result.commission_rate_percent,
        "base_salary": result.base_salary,
        "adjustments": result.adjustments,
        "lines": result.lines,
        "counts": dict((counters or {}).get("kpis") or {}),
    }


async def payout_of(deps: Pay, period: str, manager: Manager) -> dict[str, Any] | None:
    """The frozen payout of a closed period, or the provisional one of an open period."""
    state = await deps.store.period(period)
    if state and state.get("state") == "closed":
        doc = await deps.store.payout(period, manager.id)
        if doc is not None:
            return {**{k: v for k, v in doc.items() if k != "_id"}, "status": "closed"}
    current = await explain(deps, period, manager)
    return None if current is None else {**current, "status": "provisional"}


async def payouts_list(deps: Pay, period: str, managers: list[Manager]) -> list[dict[str, Any]]:
    """Many payouts at once (without their lines): read in bulk, not one lookup per manager."""
    state = await deps.store.period(period)
    ids = [m.id for m in managers]
    if state and state.get("state") == "closed":
        found = await deps.store.payouts_of(period, ids)
        return [
            {**{k: v for k, v in d.items() if k not in ("_id", "lines")}, "status": "closed"}
            for d in sorted(found, key=lambda d: d["manager_id"])
        ]
    counters = await deps.store.months(period, ids)
    book = await pay_book(deps, period, ids)
    items = []
    for manager in managers:
        explained = await explain(deps, period, manager, counters.get(manager.id), book)
        if explained is not None:
            items.append({**{k: v for k, v in explained.items() if k != "lines"}, "status": "provisional"})
    return items


async def close(deps: Pay, caller: Caller, period: str) -> dict[str, Any]:
    """Freeze the period: every manager's payout (with late events of earlier closed periods as
    adjustment lines), `payout.calculated` each, `period.closed`, and the plan realism checks.
    Closing a closed period again returns what it gave."""
    state = await deps.store.period(period) or {}
    if state.get("state") == "closed":
        return {k: v for k, v in state.items() if k not in ("_id", "snapshot")}
    now = deps.now()
    revision = int(state.get("revision", 0)) + 1
    managers = [m for m in managers_of(deps) if m.active]
    ids = [m.id for m in managers]
    counters = await deps.store.months(period, ids)
    book = await pay_book(deps, period, ids)
    earlier = previous_period(period)
    earlier_state = await deps.store.period(earlier)
    late = await _late_adjustments(deps, earlier, earlier_state, managers, book) if earlier_state else {}
    payouts: list[Document] = []
    fulfilments: dict[str, list[Decimal | None]] = {}
    total = Decimal(0)
    for manager in managers:
        explained = await explain(deps, period, manager, counters.get(manager.id), book)
        if explained is None:
            continue
        adjustment = late.get(manager.id)
        if adjustment:
            explained["adjustments"] = adjustment["amount"]
            line = {k: v for k, v in adjustment.items() if k != "counters"}
            explained["lines"].insert(-1, {"line": "adjustments", **line})
            explained["total"] = (explained["total"] + adjustment["amount"]).quantize(Decimal("0.01"))
        fulfilments.setdefault(manager.department_id, []).append(explained["sales_fulfilment_percent"])
        total += explained["total"]
        event = new_event(
            PayoutCalculated(
                period=period,
                manager_id=manager.id,
                department_id=manager.department_id,
                revision=revision,
                currency=explained["currency"],
                base_salary=explained["base_salary"],
                salary_share_percent=explained["salary_share_percent"],
                salary=explained["salary"],
                commission_rate_percent=explained["commission_rate_percent"],
                commission=explained["commission"],
                adjustments=explained["adjustments"],
                total=explained["total"],
                activity_fulfilment_percent=explained["activity_fulfilment_percent"].quantize(Decimal("0.01")),
                sales_fulfilment_percent=(
                    explained["sales_fulfilment_percent"].quantize(Decimal("0.01"))
                    if explained["sales_fulfilment_percent"] is not None
                    else None
                ),
                at=now,
            ),
            source=SOURCE,
            subject=manager.id,
            time=now,
        )
        payouts.append(
            storable(
                {
                    "_id": f"{period}:{manager.id}",
                    **explained,
                    "revision": revision,
                    "closed_at": now,
                    "outbox": [event.model_dump(mode="json")],
                }
            )
        )
    await deps.store.save_payouts(payouts)
    shares = {dept: missed_share(values) for dept, values in fulfilments.items()}
    flags = await _realism(deps, period, shares, counters, fulfilments_by_manager(payouts), now)
    closed = new_event(
        PeriodClosed(
            period=period, revision=revision, managers=len(payouts), total_payout=total, currency="RUB", at=now
        ),
        source=SOURCE,
        subject=f"period:{period}",
        time=now,
        actor=caller.actor,
    )
    audit = new_event(
        audit_record(caller, action="period.closed", entity=f"period:{period}", at=now, after={"revision": revision}),
        source=SOURCE,
        subject=f"period:{period}",
        time=now,
    )
    snapshot = {m: storable({"kpis": d.get("kpis", {}), "revenue": d.get("revenue", {})}) for m, d in counters.items()}
    body = {
        "state": "closed",
        "revision": revision,
        "closed_at": now,
        "closed_by": caller.actor,
        "managers": len(payouts),
        "total_payout": str(total),
        "missed_shares": {d: (str(s) if s is not None else None) for d, s in shares.items()},
        "flags": [f.type for f in flags],
        "snapshot": snapshot,
    }
    await deps.store.save_period(period, body, [closed, audit, *flags])
    if late and earlier_state is not None:
        await deps.store.save_period(earlier, {"adjusted_to": late_marks(late)}, [])
    return {k: v for k, v in body.items() if k != "snapshot"}


def fulfilments_by_manager(payouts: list[Document]) -> dict[str, Decimal | None]:
    return {
        d["manager_id"]: (
            Decimal(d["sales_fulfilment_percent"]) if d.get("sales_fulfilment_percent") is not None else None
        )
        for d in payouts
    }


def late_marks(late: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {m: a["counters"] for m, a in late.items()}


async def _late_adjustments(
    deps: Pay, earlier: str, earlier_state: Document, managers: list[Manager], book: PayBook
) -> dict[str, dict[str, Any]]:
    """What the previous closed period would pay now, minus what it paid: events that arrived
    after its close (never a silent change to it)."""
    if earlier_state.get("state") != "closed":
        return {}
    counters = await deps.store.months(earlier, [m.id for m in managers])
    paid_marks = earlier_state.get("adjusted_to") or {}
    snapshot = earlier_state.get("snapshot") or {}
    found: dict[str, dict[str, Any]] = {}
    for manager in managers:
        now_counts = counters.get(manager.id)
        if now_counts is None:
            continue
        current = storable({"kpis": now_counts.get("kpis", {}), "revenue": now_counts.get("revenue", {})})
        before = paid_marks.get(manager.id) or snapshot.get(manager.id) or {"kpis": {}, "revenue": {}}
        if current == before:
            continue
        then = await explain(deps, earlier, manager, before, book)
        again = await explain(deps, earlier, manager, now_counts, book)
        if then is None or again is None:
            continue
        amount = again["total"] - then["total"]
        late_counts = {
            k: int(v) - int(before.get("kpis", {}).get(k, 0))
            for k, v in current["kpis"].items()
            if int(v) != int(before.get("kpis", {}).get(k, 0))
        }
        found[manager.id] = {
            "from_period": earlier,
            "amount": amount,
            "late_counts": late_counts,
            "why": f"events of {earlier} that arrived after it was closed: {earlier} recomputed pays {amount:+} more",
            "counters": current,
        }
    return found


async def _realism(
    deps: Pay,
    period: str,
    shares: dict[str, Decimal | None],
    counters: dict[str, Document],
    fulfilment: dict[str, Decimal | None],
    now: datetime,
) -> list[CloudEvent]:
    flags: list[CloudEvent] = []
    history_periods = [period]
    for _ in range(deps.unrealistic_months - 1):
        history_periods.insert(0, previous_period(history_periods[0]))
    earlier = await deps.store.periods_in(history_periods[:-1])
    for department_id, share in shares.items():
        department = deps.directory.department(department_id)
        if department is None or share is None:
            continue
        history: list[Decimal | None] = []
        for p in history_periods[:-1]:
            raw = ((earlier.get(p) or {}).get("missed_shares") or {}).get(department_id)
            history.append(Decimal(raw) if raw is not None else None)
        history.append(share)
        members = [m for m in managers_of(deps, department_id) if m.id in fulfilment]
        if unrealistic(history, threshold=deps.unrealistic_share, months=deps.unrealistic_months):
            if department.seasonal:
                flags.append(
                    await _review(
                        deps, department_id, department.head_manager_id, history_periods, history, members, now
                    )
                )
            else:
                flags.append(
                    new_event(
                        PlanUnrealistic(
                            department_id=department_id,
                            head_manager_id=department.head_manager_id,
                            periods=history_periods,
                            missed_shares=[s or Decimal(0) for s in history],
                            threshold=deps.unrealistic_share,
                            at=now,
                        ),
                        source=SOURCE,
                        subject=f"department:{department_id}",
                        time=now,
                    )
                )
        elif 0 < share <= deps.few_share:
            peers = [dict((counters.get(m.id) or {}).get("kpis") or {}) for m in members]
            for manager in members:
                value = fulfilment.get(manager.id)
                if value is None or value >= 100:
                    continue
                diagnosis = diagnose(dict((counters.get(manager.id) or {}).get("kpis") or {}), peers)
                flags.append(
                    new_event(
                        ManagerUnderperforming(
                            period=period,
                            manager_id=manager.id,
                            department_id=department_id,
                            head_manager_id=department.head_manager_id,
                            sales_fulfilment_percent=value.quantize(Decimal("0.01")),
                            weakest_step=diagnosis.step if diagnosis else "unknown",
                            value=diagnosis.value.quantize(Decimal("0.0001")) if diagnosis else Decimal(0),
                            department_median=diagnosis.median.quantize(Decimal("0.0001")) if diagnosis else Decimal(0),
                            diagnosis=diagnosis.text if diagnosis else "no funnel step below the department's median",
                            at=now,
                        ),
                        source=SOURCE,
                        subject=manager.id,
                        time=now,
                    )
                )
    return flags


async def _review(
    deps: Pay,
    department_id: str,
    head: str | None,
    periods: list[str],
    history: list[Decimal | None],
    members: list[Manager],
    now: datetime,
) -> CloudEvent:
    def revenue(docs: dict[str, Document]) -> Decimal:
        return Decimal(sum(int((d.get("revenue") or {}).get("RUB", 0)) for d in docs.values())) / 100

    ids = [m.id for m in members]
    this_year = [revenue(await deps.store.months(p, ids)) for p in periods]
    last_year = [revenue(await deps.store.months(year_before(p), ids)) for p in periods]
    return new_event(
        PlanReviewSuggested(
            department_id=department_id,
            head_manager_id=head,
            periods=periods,
            missed_shares=[s or Decimal(0) for s in history],
            revenue=this_year,
            revenue_year_before=last_year,
            currency="RUB",
            at=now,
        ),
        source=SOURCE,
        subject=f"department:{department_id}",
        time=now,
    )


async def reopen(deps: Pay, caller: Caller, period: str, reason: str) -> dict[str, Any]:
    state = await deps.store.period(period)
    if not state or state.get("state") != "closed":
        raise PeriodClosedError(f"period {period} is not closed")
    now = deps.now()
    event = new_event(
        PeriodReopened(period=period, by=caller.actor, reason=reason, at=now),
        source=SOURCE,
        subject=f"period:{period}",
        time=now,
        actor=caller.actor,
    )
    audit = new_event(
        audit_record(
            caller,
            action="period.reopened",
            entity=f"period:{period}",
            at=now,
            before={"state": "closed"},
            after={"state": "open", "reason": reason},
        ),
        source=SOURCE,
        subject=f"period:{period}",
        time=now,
    )
    await deps.store.save_period(
        period, {"state": "open", "reopened_at": now, "reopened_by": caller.actor}, [event, audit]
    )
    return {"period": period, "state": "open", "revision": state.get("revision", 0)}


async def export_csv(deps: Pay, period: str) -> str:
    state = await deps.store.period(period)
    if not state or state.get("state") != "closed":
        raise PeriodClosedError(f"period {period} is not closed: only closed periods are exported")
    rows = await deps.store.payouts_of(period, [m.id for m in managers_of(deps)])
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "period",
            "manager_id",
            "department_id",
            "base_salary",
            "salary",
            "commission",
            "adjustments",
            "total",
            "currency",
            "revision",
        ]
    )
    for row in sorted(rows, key=lambda r: r["manager_id"]):
        writer.writerow(
            [
                period,
                row["manager_id"],
                row["department_id"],
                row["base_salary"],
                row["salary"],
                row["commission"],
                row["adjustments"],
                row["total"],
                row["currency"],
                row["revision"],
            ]
        )
    return out.getvalue()


# --- the funnel ------------------------------------------------------------------------------------------


async def funnel(
    deps: Pay, *, departments: frozenset[str] | None, manager_id: str | None, start: date, end: date
) -> dict[str, Any]:
    managers = [
        m
        for m in managers_of(deps)
        if (departments is None or m.department_id in departments) and (manager_id is None or m.id == manager_id)
    ]
    days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
    per_manager: dict[str, dict[str, int]] = {m.id: {} for m in managers}
    revenue: dict[str, int] = {m.id: 0 for m in managers}
    for doc in await deps.store.days(days, per_manager):
        counts = per_manager[doc["manager_id"]]
        for kpi, n in (doc.get("kpis") or {}).items():
            counts[kpi] = counts.get(kpi, 0) + int(n)
        revenue[doc["manager_id"]] += int((doc.get("revenue") or {}).get("RUB", 0))

    def view(counts: dict[str, int], minor: int) -> dict[str, Any]:
        steps = {step: counts.get(step, 0) for step in FUNNEL_STEPS}
        return {
            **steps,
            "revenue": str(Decimal(minor) / 100),
            "conversion": {
                k: (str(v.quantize(Decimal("0.0001"))) if v is not None else None)
                for k, v in conversions(counts).items()
            },
        }

    total: dict[str, int] = {}
    for counts in per_manager.values():
        for kpi, n in counts.items():
            total[kpi] = total.get(kpi, 0) + n
    return {
        "from": start,
        "to": end,
        "department_id": next(iter(departments)) if departments is not None and len(departments) == 1 else None,
        "departments": sorted(departments) if departments is not None else None,
        "total": view(total, sum(revenue.values())),
        "managers": [{"manager_id": m, **view(c, revenue[m])} for m, c in per_manager.items()],
    }


def period_bounds(deps: Pay, period: str) -> tuple[date, date]:
    return period_days(period, deps.period_start_day)
