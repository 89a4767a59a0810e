"""Management reports: take in the events of every topic into the reporting model, and answer a
report request from it (docs/reports.md)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from crmhub.aggregate_store import storable
from crmhub.auth import Principal
from crmhub.events import CloudEvent
from crmhub.team_directory import TeamDirectory
from motivation.adapters.report_store import Fact, ReportStore
from motivation.domain.reporting import (
    BUCKETS,
    NONE,
    PLAN_REPORT,
    REPORTS,
    BadQuery,
    Cell,
    Column,
    ReportQuery,
    Sums,
    build_rows,
    change_percent,
    facts_of,
    lean,
    month_end,
    months_touched,
    reference_needed,
    reference_of,
    summed,
    whole_months,
)
from motivation.service_layer import pay
from motivation.service_layer.pay import Pay

UNKNOWN_LABEL = {"en": "(not set)", "ru": "(не указано)"}
PLAN_MONTHS = 24


@dataclass
class Reports:
    store: ReportStore
    directory: TeamDirectory
    pay: Pay
    timezone: ZoneInfo
    now: Callable[[], datetime]
    third_ring_seconds: float = 15.0

    def today(self) -> date:
        return self.now().astimezone(self.timezone).date()


# --- taking events in ----------------------------------------------------------------------------------


async def take_in(deps: Reports, event: CloudEvent) -> int:
    """Add what an event tells to the reporting model, exactly once; the number of facts added."""
    return await take_in_many(deps, [event])


async def take_in_many(deps: Reports, events: list[CloudEvent]) -> int:
    """`take_in` for a batch in order, in four round trips: the references the events need read
    at once, those they leave written at once, and every fact added in one guarded bulk write
    per collection. An event sees the references of the events before it in the batch."""
    needed = [key for event in events if (key := reference_needed(event.type, event.data))]
    known: dict[str, dict[str, str]] = await deps.store.references(needed)
    remembered: dict[str, dict[str, str]] = {}
    facts: list[Fact] = []
    for event in events:
        if (found := reference_of(event.type, event.data)) is not None:
            key, attributes = found
            remembered[key] = known[key] = {**known.get(key, {}), **attributes}
        wanted = reference_needed(event.type, event.data)
        ref = known.get(wanted) if wanted else None
        for number, fact in enumerate(
            facts_of(event.type, event.data, event.time, ref, third_ring_seconds=deps.third_ring_seconds)
        ):
            dims = dict(fact.dims)
            if dims["manager"] and not dims["department"]:
                manager = deps.directory.manager(dims["manager"])
                dims["department"] = manager.department_id if manager else NONE
            day = fact.at.astimezone(deps.timezone).date()
            facts.append(Fact(f"{event.id}#{number}", day, dims, fact.measures, event.position))
    await deps.store.remember_many(remembered)
    return await deps.store.add_many(facts)


# --- who sees what ---------------------------------------------------------------------------------------


def visible(principal: Principal, query: ReportQuery) -> ReportQuery:
    """Narrow a query to what the caller may see: a manager their own figures, a head those of
    their own department and of the departments they head; administrators, accounting and
    integrations with reports:read everything."""
    if principal.has("admin") or principal.has("accounting") or principal.kind == "integration":
        return query
    filters = dict(query.filters)
    if mine := principal.departments:
        wanted = filters.get("department")
        if wanted is not None and wanted - mine:
            raise Forbidden(
                f"{principal.actor} reads the reports of department {', '.join(sorted(mine))} only, not "
                + ", ".join(sorted(wanted - mine))
            )
        filters["department"] = wanted or mine
    else:
        wanted = filters.get("manager")
        if wanted is not None and wanted - {principal.subject}:
            raise Forbidden(f"{principal.actor} reads their own figures only")
        filters["manager"] = frozenset({principal.subject})
    return ReportQuery(query.report, query.start, query.end, query.group_by, filters, query.currency)


class Forbidden(Exception):
    """The caller asked for figures that are not theirs (HTTP 403)."""


# --- answering -------------------------------------------------------------------------------------------


def labeller(deps: Reports, lang: str) -> Callable[[str, str], str]:
    def label(grouping: str, value: str) -> str:
        if grouping in BUCKETS:
            return value
        if value == NONE:
            return UNKNOWN_LABEL.get(lang, UNKNOWN_LABEL["en"])
        if grouping == "manager":
            manager = deps.directory.manager(value)
            return manager.name if manager else value
        if grouping == "department":
            department = deps.directory.department(value)
            return department.name if department else value
        return value

    return label


async def _cells(deps: Reports, query: ReportQuery) -> list[Cell]:
    whole = set(whole_months(query))
    touched = months_touched(query.start, query.end)
    return await deps.store.load(
        [m for m in touched if m not in whole], sorted(whole), query.filters.get("manager"), lean=lean(query)
    )


def _columns(columns: tuple[Column, ...], lang: str) -> list[dict[str, str]]:
    return [{"key": c.key, "label": c.label(lang), "kind": c.kind} for c in columns]


async def run(deps: Reports, query: ReportQuery, lang: str = "en") -> dict[str, Any]:
    """A report as JSON-ready data: its columns, a row per group, the totals (and for sales the
    previous period and the plan)."""
    if query.report == PLAN_REPORT:
        return await _plan_report(deps, query, lang)
    definition = REPORTS[query.report]
    label = labeller(deps, lang)
    previous = query.previous()
    if definition.compare:  # this period and the one before, read side by side
        cells, previous_cells = await asyncio.gather(_cells(deps, query), _cells(deps, previous))
    else:
        cells, previous_cells = await _cells(deps, query), []
    sums = summed(query, cells, definition.reads)
    rows, totals = build_rows(query, sums, label, definition.compute)
    columns = list(definition.columns)
    result: dict[str, Any] = {
        "report": query.report,
        "title": definition.ru if lang == "ru" else definition.en,
        "from": query.start.isoformat(),
        "to": query.end.isoformat(),
        "group_by": list(query.group_by),
        "filters": {k: sorted(v) for k, v in query.filters.items()},
        "currency": query.currency,
        "chart_column": definition.chart_column,
    }
    if definition.compare:
        columns += await _compare(deps, query, rows, totals, summed(previous, previous_cells, definition.reads))
    result |= {"columns": _columns(tuple(columns), lang), "rows": rows, "totals": totals}
    return dict(storable(result))


async def _compare(
    deps: Reports, query: ReportQuery, rows: list[dict[str, Any]], totals: dict[str, Any], previous_sums: Sums
) -> list[Column]:
    """Add the previous period's revenue and deals won to each group (not to period buckets),
    and the revenue plan where plans are set (whole months, by manager or department)."""
    added = [
        Column("revenue_previous", "Revenue, previous period", "Выручка, прошлый период", "money"),
        Column("revenue_change", "Change, %", "Изменение, %", "percent"),
    ]
    by_period = any(g in BUCKETS for g in query.group_by)
    before_rows, before_totals = build_rows(query.previous(), previous_sums, lambda g, v: v, REPORTS["sales"].compute)
    before = {tuple(r["key"].values()): r["values"] for r in before_rows}
    for row in rows:
        old = None if by_period else before.get(tuple(row["key"].values()), {}).get("revenue", Decimal(0))
        row["values"]["revenue_previous"] = old
        row["values"]["revenue_change"] = change_percent(row["values"]["revenue"], old)
    totals["revenue_previous"] = before_totals["revenue"]
    totals["revenue_change"] = change_percent(totals["revenue"], before_totals["revenue"])
    plans = await _revenue_plans(deps, query)
    if plans is None:
        return added
    added += [
        Column("plan_revenue", "Revenue plan", "План по выручке", "money"),
        Column("plan_percent", "Plan, %", "План, %", "percent"),
    ]
    grouping = query.group_by[0] if query.group_by else None
    for row in rows:
        target = plans.get(row["key"].get(grouping, "")) if grouping else None
        row["values"]["plan_revenue"] = target
        row["values"]["plan_percent"] = _percent(row["values"]["revenue"], target)
    total_target = sum(plans.values(), Decimal(0)) if plans else None
    totals["plan_revenue"] = total_target
    totals["plan_percent"] = _percent(totals["revenue"], total_target)
    return added


def _percent(fact: Decimal | None, target: Decimal | None) -> Decimal | None:
    if fact is None or not target:
        return None
    return (fact * 100 / target).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


async def _revenue_plans(deps: Reports, query: ReportQuery) -> dict[str, Decimal] | None:
    """The revenue plans of the managers or departments in the range (summed over its months),
    when the range is whole months and the report is by manager, by department or in all."""
    months = whole_months(query)
    if query.group_by not in ((), ("manager",), ("department",)) or not months or months[0] != query.start:
        return None
    if month_end(months[-1]) != query.end:
        return None
    targets: dict[str, Decimal] = {}
    departments = query.filters.get("department")
    for month in months:
        period = f"{month:%Y-%m}"
        book = await pay.plans_only(deps.pay, period)
        if query.group_by == ("manager",):
            for manager in deps.directory.managers.values():
                if not query.admits({"manager": manager.id, "department": manager.department_id}):
                    continue
                found = book.manager_plan(period, manager)
                if found and found[0].currency == query.currency:
                    targets[manager.id] = targets.get(manager.id, Decimal(0)) + found[0].sales_target
        else:
            for department in deps.directory.departments.values():
                if departments is not None and department.id not in departments:
                    continue
                plan = book.plan(period, "department", department.id)
                if plan and plan[0].currency == query.currency:
                    targets[department.id] = targets.get(department.id, Decimal(0)) + plan[0].sales_target
    return targets


PLAN_COLUMNS = (
    Column("sales_target", "Revenue plan", "План по выручке", "money"),
    Column("revenue", "Revenue", "Выручка", "money"),
    Column("sales_percent", "Sales plan, %", "План продаж, %", "percent"),
    Column("activity_percent", "Activity plan, %", "План активности, %", "percent"),
    Column("salary", "Salary", "Оклад", "money"),
    Column("commission", "Commission", "Комиссия", "money"),
    Column("total", "Pay", "К выплате", "money"),
)
PLAN_GROUPINGS = frozenset({"manager", "department", "month"})


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


async def _plan_report(deps: Reports, query: ReportQuery, lang: str) -> dict[str, Any]:
    """Plan against fact and pay per manager, month by month, from the motivation figures."""
    unknown = [g for g in query.group_by if g not in PLAN_GROUPINGS]
    if unknown:
        raise BadQuery("group_by", f"the plan report groups by manager, department or month, not {unknown[0]}")
    months = months_touched(query.start, query.end)
    if len(months) > PLAN_MONTHS:
        raise BadQuery("to", f"the plan report covers at most {PLAN_MONTHS} months")
    managers = [m for m in pay.managers_of(deps.pay) if query.admits({"manager": m.id, "department": m.department_id})]
    groups: dict[tuple[str, ...], dict[str, Any]] = {}
    for month in months:
        period = f"{month:%Y-%m}"
        counters = await deps.pay.store.months(period, [m.id for m in managers])
        for item in await pay.payouts_list(deps.pay, period, managers):
            if item["currency"] != query.currency:
                continue
            key_of = {"manager": item["manager_id"], "department": item["department_id"], "month": period}
            key = tuple(key_of[g] for g in query.group_by)
            revenue = Decimal((counters.get(item["manager_id"]) or {}).get("revenue", {}).get(query.currency, 0)) / 100
            group = groups.setdefault(
                key,
                {
                    "sales_target": Decimal(0),
                    "revenue": Decimal(0),
                    "salary": Decimal(0),
                    "commission": Decimal(0),
                    "total": Decimal(0),
                    "_activity": [],
                },
            )
            group["sales_target"] += _decimal(item["plan"]["sales_target"]) or 0
            group["revenue"] += revenue
            for name in ("salary", "commission", "total"):
                group[name] += _decimal(item[name]) or 0
            group["_activity"].append(_decimal(item.get("activity_fulfilment_percent")))
    label = labeller(deps, lang)
    rows = []
    totals: dict[str, Any] = {k: Decimal(0) for k in ("sales_target", "revenue", "salary", "commission", "total")}
    for key, group in groups.items():
        activity = [a for a in group.pop("_activity") if a is not None]
        values = {k: v.quantize(Decimal("0.01")) for k, v in group.items()}
        values["sales_percent"] = _percent(values["revenue"], values["sales_target"])
        values["activity_percent"] = (
            (sum(activity, Decimal(0)) / len(activity)).quantize(Decimal("0.1")) if activity else None
        )
        for name in totals:
            totals[name] += values[name]
        labels = {g: label(g, v) for g, v in zip(query.group_by, key, strict=True)}
        rows.append({"key": dict(zip(query.group_by, key, strict=True)), "label": labels, "values": values})
    rows.sort(key=lambda r: tuple(str(v).casefold() for v in r["label"].values()))
    totals = {k: v.quantize(Decimal("0.01")) for k, v in totals.items()}
    totals["sales_percent"] = _percent(totals["revenue"], totals["sales_target"])
    totals["activity_percent"] = None
    plan_report: dict[str, Any] = storable(
        {
            "report": PLAN_REPORT,
            "title": "План и факт, оплата" if lang == "ru" else "Plan, fact and pay",
            "from": months[0].isoformat(),
            "to": month_end(months[-1]).isoformat(),
            "group_by": list(query.group_by),
            "filters": {k: sorted(v) for k, v in query.filters.items()},
            "currency": query.currency,
            "chart_column": "sales_percent",
            "columns": _columns(PLAN_COLUMNS, lang),
            "rows": rows,
            "totals": totals,
        }
    )
    return plan_report


def catalogue(lang: str = "en") -> list[dict[str, Any]]:
    """What reports there are, their columns and default grouping."""
    items = [
        {
            "report": d.name,
            "title": d.ru if lang == "ru" else d.en,
            "columns": _columns(d.columns, lang),
            "default_group_by": list(d.default_group),
        }
        for d in REPORTS.values()
    ]
    items.append(
        {
            "report": PLAN_REPORT,
            "title": "План и факт, оплата" if lang == "ru" else "Plan, fact and pay",
            "columns": _columns(PLAN_COLUMNS, lang),
            "default_group_by": ["manager"],
        }
    )
    return items
