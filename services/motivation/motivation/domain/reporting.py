"""Management reports (seed §2.14): what each event of the other services adds to the reporting
model, how a report request is read and checked, and how a report is computed from the
pre-aggregated cells. No I/O.

The model is a cube of *cells*: one per local day and combination of dimensions (manager,
department, region, product, source, campaign, tracking line), each holding integer measures
(counts, money in minor units, a histogram of call-back delays). An event adds to one cell;
a report sums the cells of its date range that pass its filters into its groups and derives
its columns (conversions, shares, averages, percentiles) from the sums.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from functools import lru_cache
from itertools import pairwise
from typing import Any, Literal

DIMENSIONS: tuple[str, ...] = ("manager", "department", "region", "product", "source", "campaign", "line")
BUCKETS: tuple[str, ...] = ("day", "week", "month", "quarter", "year")
GROUPINGS: tuple[str, ...] = DIMENSIONS + BUCKETS
MAX_GROUPINGS = 2
MAX_DAYS = 3 * 366
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
MAX_FILTER_VALUES = 50
MAX_VALUE_LENGTH = 200
# Call-back delays are kept as a histogram with these upper bounds (seconds); a percentile is
# the bound of the bucket it falls in ("the median call-back came within 15 minutes").
CALLBACK_BOUNDS: tuple[int, ...] = (60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800)
NONE = ""  # a dimension the event does not tell

Kind = Literal["count", "money", "percent", "seconds", "text"]


@dataclass(frozen=True)
class Fact:
    """What one event adds to the cube: measures at a moment, along dimensions."""

    at: datetime
    dims: Mapping[str, str]
    measures: Mapping[str, int]


@dataclass(frozen=True)
class Cell:
    """Summed measures of one combination of dimensions on one local day (or a whole month,
    `day` then being its first day and `whole_month` set)."""

    day: date
    dims: Mapping[str, str]
    measures: Mapping[str, int]
    whole_month: bool = False


def cell_key(dims: Mapping[str, str], day: date | None = None) -> str:
    """A short key naming a cell in its document: safe as a MongoDB field name."""
    return cell_key_of(dimension_values(dims), day)


def dimension_values(dims: Mapping[str, str]) -> tuple[str, ...]:
    """A cell's dimension values in the order of DIMENSIONS (NONE where not told)."""
    return tuple(dims.get(d, NONE) for d in DIMENSIONS)


@lru_cache(maxsize=16384)
def cell_key_of(values: tuple[str, ...], day: date | None = None) -> str:
    """`cell_key` of a cell's dimension values. Remembered: the events of a day fall into few
    cells, and a consumer catching up takes thousands of events a second."""
    text = "\x1f".join([day.isoformat() if day else "month", *values])
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]


def measure_name(text: str) -> str:
    """A measure name built from outside text (a lost reason): lower-case letters of any
    alphabet, digits, `_` (never a `.` or `$`, which MongoDB field names cannot take)."""
    return re.sub(r"\W+", "_", text.lower()).strip("_")[:60] or "other"


# --- what events add ---------------------------------------------------------------------------------


def _at(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _minor(amount: Any) -> int:
    return int((Decimal(str(amount)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _text(value: Any) -> str:
    return str(value)[:MAX_VALUE_LENGTH] if value not in (None, "") else NONE


def _dims(**values: Any) -> dict[str, str]:
    return {d: _text(values.get(d)) for d in DIMENSIONS}


def lead_attributes(lead: Mapping[str, Any], custom: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Where a lead came from, as later events about it are attributed."""
    utm = lead.get("utm") or {}
    return {
        "region": _text(lead.get("region")),
        "product": _text(lead.get("product")),
        "source": _text(lead.get("source_id")),
        "campaign": _text(utm.get("campaign")),
        "line": _text((custom or {}).get("line")),
    }


def reference_of(event_type: str, data: Mapping[str, Any]) -> tuple[str, dict[str, str]] | None:
    """What to remember from this event for later events that do not carry it themselves: a
    lead's source, campaign and line; a deal's; a missed call's line and campaign."""
    if event_type == "lead.created":
        return f"lead:{data['lead']['lead_id']}", lead_attributes(data["lead"], data.get("custom"))
    if event_type == "deal.created":
        deal = data["deal"]
        attributes: dict[str, str] = {
            "source": _text(data.get("source_id")),
            "campaign": _text(data.get("campaign")),
            "line": NONE,
            "lead": _text(data.get("lead_id")),
        }
        return f"deal:{deal['deal_id']}", attributes
    if event_type == "call.missed":
        call = data["call"]
        return f"call:{call['call_id']}", {"line": _text(call.get("line")), "campaign": _text(call.get("campaign"))}
    return None


def reference_needed(event_type: str, data: Mapping[str, Any]) -> str | None:
    """Which remembered reference this event's dimensions come from."""
    if event_type in ("lead.assigned", "lead.taken"):
        lead = data.get("lead") or {}
        return f"lead:{lead.get('lead_id') or data.get('lead_id')}"
    if event_type in ("deal.activity_recorded", "deal.stage_changed"):
        return f"deal:{data['deal']['deal_id']}"
    if event_type == "call.callback_made":
        return f"call:{data['missed_call_id']}"
    return None


def _deal_fact(
    at: datetime, data: Mapping[str, Any], ref: Mapping[str, str], measures: dict[str, int], manager: Any = None
) -> Fact:
    deal = data["deal"]
    return Fact(
        at,
        _dims(
            manager=manager if manager is not None else deal.get("manager_id"),
            department=data.get("department_id") or deal.get("department_id"),
            region=deal.get("region"),
            product=deal.get("product"),
            source=ref.get("source"),
            campaign=ref.get("campaign"),
            line=ref.get("line"),
        ),
        measures,
    )


def callback_bucket(delay_seconds: float) -> str:
    for bound in CALLBACK_BOUNDS:
        if delay_seconds <= bound:
            return f"callback_le_{bound}"
    return f"callback_gt_{CALLBACK_BOUNDS[-1]}"


def facts_of(
    event_type: str,
    data: Mapping[str, Any],
    event_time: datetime,
    ref: Mapping[str, str] | None = None,
    *,
    third_ring_seconds: float = 15.0,
) -> list[Fact]:
    """The facts an event stands for (none for events reports do not measure). `ref` is what
    `reference_needed` names, when it was remembered."""
    ref = ref or {}
    if event_type == "lead.created":
        lead = data["lead"]
        attrs = lead_attributes(lead, data.get("custom"))
        return [Fact(_at(data["created_at"]), _dims(**attrs), {"leads": 1})]
    if event_type == "lead.assigned":
        if data.get("previous_manager_id"):
            return []
        attrs = {**lead_attributes(data["lead"]), **{k: v for k, v in ref.items() if v and k != "lead"}}
        dims = _dims(manager=data["manager_id"], department=data.get("department_id"), **attrs)
        return [Fact(_at(data["assigned_at"]), dims, {"leads_assigned": 1})]
    if event_type == "lead.taken":
        attrs = {"source": _text(data.get("source_id")), **{k: v for k, v in ref.items() if v}}
        measures = {"leads_taken": 1, "leads_taken_in_sla": 1 if data.get("within_sla") else 0}
        return [Fact(_at(data["taken_at"]), _dims(manager=data["manager_id"], **attrs), measures)]
    if event_type in ("call.completed", "call.missed"):
        call = data["call"]
        dims = _dims(manager=call.get("manager_id"), line=call.get("line"), campaign=call.get("campaign"))
        at = _at(call["started_at"])
        if call["direction"] == "outbound" and event_type == "call.completed":
            return [Fact(at, dims, {"calls_outgoing": 1})]
        if call["direction"] != "inbound":
            return []
        if event_type == "call.missed":
            return [Fact(at, dims, {"calls_incoming": 1, "calls_missed": 1})]
        ring = call.get("ring_seconds")
        quick = 1 if ring is not None and float(ring) <= third_ring_seconds else 0
        return [Fact(at, dims, {"calls_incoming": 1, "calls_answered": 1, "calls_answered_by_third_ring": quick})]
    if event_type == "call.callback_made":
        dims = _dims(manager=data.get("manager_id"), line=ref.get("line"), campaign=ref.get("campaign"))
        measures = {"callbacks_made": 1, callback_bucket(float(data["delay_seconds"])): 1}
        return [Fact(event_time, dims, measures)]
    if event_type == "deal.created":
        measures = {"deals_created": 1}
        return [_deal_fact(_at(data["created_at"]), data, reference_of(event_type, data)[1], measures)]  # type: ignore[index]
    if event_type == "deal.activity_recorded":
        kind = data["kind"]
        simple = {
            "meeting_held": "meetings_held",
            "proposal_sent": "proposals_sent",
            "invoice_issued": "invoices_issued",
        }
        at = _at(data["happened_at"])
        if kind in simple:
            return [_deal_fact(at, data, ref, {simple[kind]: 1}, data.get("manager_id"))]
        if kind == "payment_received" and data.get("amount") is not None:
            currency = data["deal"].get("currency") or "RUB"
            measures = {f"revenue_{currency}": _minor(data["amount"]), "payments": 1}
            return [_deal_fact(at, data, ref, measures, data.get("manager_id"))]
        return []
    if event_type == "deal.stage_changed" and data.get("to_stage") != data.get("from_stage"):
        outcome = data.get("outcome")
        at = _at(data["at"])
        if outcome == "won":
            currency = data["deal"].get("currency") or "RUB"
            won = {"deals_won": 1, f"won_amount_{currency}": _minor(data["deal"].get("amount") or 0)}
            return [_deal_fact(at, data, ref, won)]
        if outcome == "lost":
            reason = measure_name(data.get("lost_reason") or "other")
            return [_deal_fact(at, data, ref, {"deals_lost": 1, f"lost_{reason}": 1})]
    return []


# --- report requests -----------------------------------------------------------------------------------


class BadQuery(ValueError):
    """A report request that cannot be answered (HTTP 400 naming the parameter)."""

    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        super().__init__(message)


@dataclass(frozen=True)
class ReportQuery:
    report: str
    start: date
    end: date  # inclusive
    group_by: tuple[str, ...] = ()
    filters: Mapping[str, frozenset[str]] = field(default_factory=dict)
    currency: str = "RUB"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> ReportQuery:
        """The period just before, of the same length (whole months when this is whole months)."""
        if self.start.day == 1 and (self.end + timedelta(days=1)).day == 1:
            months = (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1
            start = add_months(self.start, -months)
            end = self.start - timedelta(days=1)
        else:
            end = self.start - timedelta(days=1)
            start = end - (self.end - self.start)
        return ReportQuery(self.report, start, end, self.group_by, self.filters, self.currency)

    def admits(self, dims: Mapping[str, str]) -> bool:
        return all(dims.get(d, NONE) in allowed for d, allowed in self.filters.items())


PARAMETERS = frozenset({"from", "to", "group_by", "currency", "format", "lang", *DIMENSIONS})


def add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_end(day: date) -> date:
    return add_months(day, 1) - timedelta(days=1)


def _parse_day(parameter: str, text: str, *, end: bool) -> date:
    try:
        if re.fullmatch(r"\d{4}-\d{2}", text):
            first = date(int(text[:4]), int(text[5:7]), 1)
            return month_end(first) if end else first
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise BadQuery(parameter, f"{parameter} must be a date YYYY-MM-DD or a month YYYY-MM, not {text[:40]!r}")


def _filter_value(parameter: str, value: str) -> str:
    if len(value) > MAX_VALUE_LENGTH:
        raise BadQuery(parameter, f"a {parameter} value is longer than {MAX_VALUE_LENGTH} characters")
    if value[:1] in ("$", "{", "[") or any(ord(c) < 32 for c in value):
        raise BadQuery(parameter, f"{parameter} takes plain values, not {value[:40]!r}")
    return value


def parse_query(report: str, params: Iterable[tuple[str, str]], today: date) -> ReportQuery:
    """Read a report request from its query parameters; BadQuery names what is wrong."""
    known = set(REPORT_NAMES)
    if report not in known:
        raise BadQuery("report", f"no report {report[:40]!r} (known: {', '.join(sorted(known))})")
    values: dict[str, list[str]] = {}
    for name, value in params:
        if name not in PARAMETERS:
            raise BadQuery(name[:60], f"unknown parameter {name[:60]!r} (known: {', '.join(sorted(PARAMETERS))})")
        values.setdefault(name, []).append(value)
    for single in ("from", "to", "currency", "format", "lang"):
        if len(values.get(single, [])) > 1:
            raise BadQuery(single, f"{single} is given more than once")
    start = _parse_day("from", values["from"][0], end=False) if "from" in values else today.replace(day=1)
    end = _parse_day("to", values["to"][0], end=True) if "to" in values else month_end(start)
    for name, day in (("from", start), ("to", end)):
        if not EARLIEST <= day <= LATEST:
            raise BadQuery(name, f"{name} must lie between {EARLIEST} and {LATEST}")
    if start > end:
        raise BadQuery("from", f"from ({start}) is after to ({end})")
    if (end - start).days + 1 > MAX_DAYS:
        raise BadQuery("to", f"a report covers at most {MAX_DAYS} days; this asks for {(end - start).days + 1}")
    group_by: list[str] = []
    for value in values.get("group_by", []):
        for name in filter(None, (part.strip() for part in value.split(","))):
            if name not in GROUPINGS:
                raise BadQuery("group_by", f"cannot group by {name[:40]!r} (known: {', '.join(GROUPINGS)})")
            if name in group_by:
                raise BadQuery("group_by", f"{name} is named twice in group_by")
            group_by.append(name)
    if len(group_by) > MAX_GROUPINGS:
        raise BadQuery("group_by", f"at most {MAX_GROUPINGS} groupings, not {len(group_by)}")
    if sum(g in BUCKETS for g in group_by) > 1:
        raise BadQuery("group_by", "at most one period bucket (day, week, month, quarter, year)")
    if "group_by" not in values:
        group_by = list(REPORTS[report].default_group) if report in REPORTS else ["manager"]
    filters: dict[str, frozenset[str]] = {}
    for name in DIMENSIONS:
        given = values.get(name)
        if given is None:
            continue
        if len(given) > MAX_FILTER_VALUES:
            raise BadQuery(name, f"at most {MAX_FILTER_VALUES} values of {name}")
        filters[name] = frozenset(_filter_value(name, v) for v in given)
    currency = values.get("currency", ["RUB"])[0]
    if not re.fullmatch(r"[A-Z]{3}", currency):
        raise BadQuery("currency", f"currency is a three-letter code such as RUB, not {currency[:10]!r}")
    return ReportQuery(report, start, end, tuple(group_by), filters, currency)


# --- reports -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    key: str
    en: str
    ru: str
    kind: Kind = "count"

    def label(self, lang: str) -> str:
        return self.ru if lang == "ru" else self.en


Values = dict[str, Any]


def _share(part: int, whole: int) -> Decimal | None:
    if not whole:
        return None
    return (Decimal(part) * 100 / Decimal(whole)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _money(minor: int) -> Decimal:
    return (Decimal(minor) / 100).quantize(Decimal("0.01"))


def percentile_bound(measures: Mapping[str, int], q: Decimal) -> int | None:
    """The upper bound (seconds) of the call-back delay bucket holding the q-th share of call-backs;
    None when there were none, or when it lies beyond the last bound."""
    total = sum(measures.get(f"callback_le_{b}", 0) for b in CALLBACK_BOUNDS) + measures.get(
        f"callback_gt_{CALLBACK_BOUNDS[-1]}", 0
    )
    if not total:
        return None
    needed = q * total
    running = 0
    for bound in CALLBACK_BOUNDS:
        running += measures.get(f"callback_le_{bound}", 0)
        if running >= needed:
            return bound
    return None


def _sales(m: Mapping[str, int], currency: str) -> Values:
    won, lost = m.get("deals_won", 0), m.get("deals_lost", 0)
    won_amount = m.get(f"won_amount_{currency}", 0)
    return {
        "revenue": _money(m.get(f"revenue_{currency}", 0)),
        "payments": m.get("payments", 0),
        "deals_won": won,
        "won_amount": _money(won_amount),
        "average_deal": _money(won_amount // won) if won else None,
        "deals_lost": lost,
        "win_rate": _share(won, won + lost),
        "lost_reasons": {k[5:].replace("_", " "): v for k, v in sorted(m.items()) if k.startswith("lost_") and v},
    }


def _funnel(m: Mapping[str, int], currency: str) -> Values:
    calls = m.get("calls_answered", 0) + m.get("calls_outgoing", 0)
    steps = [
        ("leads_assigned", m.get("leads_assigned", 0)),
        ("leads_taken_in_sla", m.get("leads_taken_in_sla", 0)),
        ("calls", calls),
        ("meetings_held", m.get("meetings_held", 0)),
        ("proposals_sent", m.get("proposals_sent", 0)),
        ("invoices_issued", m.get("invoices_issued", 0)),
        ("deals_won", m.get("deals_won", 0)),
    ]
    values: Values = dict(steps)
    for (_, before), (name, value) in pairwise(steps):
        values[f"{name}_conversion"] = _share(value, before)
    return values


def _attribution(m: Mapping[str, int], currency: str) -> Values:
    return {
        "leads": m.get("leads", 0),
        "calls_incoming": m.get("calls_incoming", 0),
        "deals_created": m.get("deals_created", 0),
        "deals_won": m.get("deals_won", 0),
        "revenue": _money(m.get(f"revenue_{currency}", 0)),
    }


def _responsiveness(m: Mapping[str, int], currency: str) -> Values:
    missed, callbacks = m.get("calls_missed", 0), m.get("callbacks_made", 0)
    return {
        "leads_taken": m.get("leads_taken", 0),
        "leads_taken_in_sla": m.get("leads_taken_in_sla", 0),
        "sla_share": _share(m.get("leads_taken_in_sla", 0), m.get("leads_taken", 0)),
        "calls_incoming": m.get("calls_incoming", 0),
        "answered_by_third_ring": m.get("calls_answered_by_third_ring", 0),
        "third_ring_share": _share(m.get("calls_answered_by_third_ring", 0), m.get("calls_incoming", 0)),
        "calls_missed": missed,
        "callbacks_made": callbacks,
        "callback_share": _share(callbacks, missed),
        "callback_p50_seconds": percentile_bound(m, Decimal("0.5")),
        "callback_p90_seconds": percentile_bound(m, Decimal("0.9")),
    }


@dataclass(frozen=True)
class ReportDef:
    name: str
    en: str
    ru: str
    columns: tuple[Column, ...]
    compute: Callable[[Mapping[str, int], str], Values]
    default_group: tuple[str, ...]
    chart_column: str
    measures: tuple[str, ...]  # the measures (or their prefixes) it reads: cells without any are not its rows
    compare: bool = False  # with the previous period and the plan

    def reads(self, measures: Mapping[str, int]) -> bool:
        return any(name.startswith(self.measures) for name, value in measures.items() if value)


FUNNEL_COLUMNS = (
    Column("leads_assigned", "Leads", "Лиды"),
    Column("leads_taken_in_sla", "Taken in SLA", "Взяты в SLA"),
    Column("calls", "Calls", "Звонки"),
    Column("meetings_held", "Meetings", "Встречи"),
    Column("proposals_sent", "Proposals", "КП"),
    Column("invoices_issued", "Invoices", "Счета"),
    Column("deals_won", "Won", "Выиграно"),
)

REPORTS: dict[str, ReportDef] = {
    r.name: r
    for r in (
        ReportDef(
            "sales",
            "Sales",
            "Продажи",
            (
                Column("revenue", "Revenue", "Выручка", "money"),
                Column("deals_won", "Deals won", "Выиграно сделок"),
                Column("won_amount", "Won amount", "Сумма выигранных", "money"),
                Column("average_deal", "Average deal", "Средняя сделка", "money"),
                Column("deals_lost", "Deals lost", "Проиграно сделок"),
                Column("win_rate", "Win rate", "Доля выигранных", "percent"),
                Column("lost_reasons", "Lost reasons", "Причины проигрыша", "text"),
            ),
            _sales,
            ("manager",),
            "revenue",
            ("revenue_", "won_amount_", "deals_won", "deals_lost", "payments"),
            compare=True,
        ),
        ReportDef(
            "funnel",
            "Funnel",
            "Воронка",
            FUNNEL_COLUMNS
            + tuple(
                Column(f"{c.key}_conversion", f"→ {c.en}, %", f"→ {c.ru}, %", "percent") for c in FUNNEL_COLUMNS[1:]
            ),
            _funnel,
            ("manager",),
            "deals_won",
            (
                "leads_assigned",
                "leads_taken_in_sla",
                "calls_answered",
                "calls_outgoing",
                "meetings_held",
                "proposals_sent",
                "invoices_issued",
                "deals_won",
            ),
        ),
        ReportDef(
            "attribution",
            "Marketing attribution",
            "Источники и реклама",
            (
                Column("leads", "Leads", "Лиды"),
                Column("calls_incoming", "Incoming calls", "Входящие звонки"),
                Column("deals_created", "Deals", "Сделки"),
                Column("deals_won", "Deals won", "Выиграно"),
                Column("revenue", "Revenue", "Выручка", "money"),
            ),
            _attribution,
            ("source",),
            "leads",
            ("leads", "calls_incoming", "deals_created", "deals_won", "revenue_"),
        ),
        ReportDef(
            "responsiveness",
            "Responsiveness",
            "Скорость реакции",
            (
                Column("leads_taken", "Leads taken", "Лидов взято"),
                Column("leads_taken_in_sla", "In SLA", "В SLA"),
                Column("sla_share", "In SLA, %", "В SLA, %", "percent"),
                Column("calls_incoming", "Incoming calls", "Входящие"),
                Column("answered_by_third_ring", "By 3rd ring", "До 3-го гудка"),
                Column("third_ring_share", "By 3rd ring, %", "До 3-го гудка, %", "percent"),
                Column("calls_missed", "Missed", "Пропущено"),
                Column("callbacks_made", "Called back", "Перезвонили"),
                Column("callback_share", "Called back, %", "Перезвонили, %", "percent"),
                Column("callback_p50_seconds", "Call-back p50 ≤", "Перезвон p50 ≤", "seconds"),
                Column("callback_p90_seconds", "Call-back p90 ≤", "Перезвон p90 ≤", "seconds"),
            ),
            _responsiveness,
            ("manager",),
            "sla_share",
            ("leads_taken", "calls_incoming", "calls_missed", "callbacks_made"),
        ),
    )
}
PLAN_REPORT = "plan"
REPORT_NAMES: tuple[str, ...] = (*REPORTS, PLAN_REPORT)


def bucket_of(day: date, bucket: str) -> str:
    if bucket == "day":
        return day.isoformat()
    if bucket == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    if bucket == "month":
        return f"{day.year}-{day.month:02d}"
    if bucket == "quarter":
        return f"{day.year}-Q{(day.month - 1) // 3 + 1}"
    return str(day.year)


def buckets_between(start: date, end: date, bucket: str) -> list[str]:
    seen: dict[str, None] = {}
    day = start
    while day <= end:
        seen[bucket_of(day, bucket)] = None
        day += timedelta(days=1)
    return list(seen)


def group_value(grouping: str, cell: Cell) -> str:
    if grouping in BUCKETS:
        return bucket_of(cell.day, grouping)
    return cell.dims.get(grouping, NONE)


def add(total: dict[str, int], measures: Mapping[str, int]) -> None:
    for name, value in measures.items():
        total[name] = total.get(name, 0) + value


@dataclass(frozen=True)
class Sums:
    """The measures of a report's range summed per group, and in all."""

    groups: dict[tuple[str, ...], dict[str, int]]
    total: dict[str, int]


def summed(query: ReportQuery, cells: Iterable[Cell], reads: Callable[[Mapping[str, int]], bool] | None = None) -> Sums:
    """Sum the cells inside the query's range that pass its filters (and hold a measure the
    report `reads`), per group. With a period grouping every bucket of the range is present,
    empty ones with zeros."""
    groups: dict[tuple[str, ...], dict[str, int]] = {}
    total: dict[str, int] = {}
    if len(query.group_by) == 1 and query.group_by[0] in BUCKETS:
        for bucket in buckets_between(query.start, query.end, query.group_by[0]):
            groups[(bucket,)] = {}
    for cell in cells:
        if cell.whole_month:
            if cell.day < query.start or month_end(cell.day) > query.end:
                continue
        elif not query.start <= cell.day <= query.end:
            continue
        if query.filters and not query.admits(cell.dims):
            continue
        if reads is not None and not reads(cell.measures):
            continue
        key = tuple(group_value(g, cell) for g in query.group_by)
        add(groups.setdefault(key, {}), cell.measures)
        add(total, cell.measures)
    return Sums(groups, total)


def whole_months(query: ReportQuery) -> list[date]:
    """First days of the months the range covers completely, when no day or week grouping needs
    finer cells: those months are read from their monthly roll-up."""
    if any(g in ("day", "week") for g in query.group_by):
        return []
    months = []
    month = query.start if query.start.day == 1 else add_months(query.start, 1)
    while month_end(month) <= query.end:
        months.append(month)
        month = add_months(month, 1)
    return months


LEAN_DIMENSIONS = frozenset({"manager", "department"})


def lean(query: ReportQuery) -> bool:
    """Whether the months' totals by manager and department alone answer the query (no grouping
    or filter by region, product, source, campaign or line)."""
    return all(g in LEAN_DIMENSIONS or g in BUCKETS for g in query.group_by) and set(query.filters) <= LEAN_DIMENSIONS


def months_touched(start: date, end: date) -> list[date]:
    months = []
    month = start.replace(day=1)
    while month <= end:
        months.append(month)
        month = add_months(month, 1)
    return months


def sort_key(grouping: tuple[str, ...], labels: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple((g in BUCKETS, label.casefold()) for g, label in zip(grouping, labels, strict=True))


def build_rows(
    query: ReportQuery,
    sums: Sums,
    label: Callable[[str, str], str],
    compute: Callable[[Mapping[str, int], str], Values],
) -> tuple[list[dict[str, Any]], Values]:
    rows = []
    for key, measures in sums.groups.items():
        labels = tuple(label(g, v) for g, v in zip(query.group_by, key, strict=True))
        rows.append(
            {
                "key": dict(zip(query.group_by, key, strict=True)),
                "label": dict(zip(query.group_by, labels, strict=True)),
                "values": compute(measures, query.currency),
                "_sort": sort_key(query.group_by, labels),
            }
        )
    rows.sort(key=lambda r: tuple(r.pop("_sort")))
    return rows, compute(sums.total, query.currency)


def change_percent(now: Any, before: Any) -> Decimal | None:
    if now is None or before is None or not before:
        return None
    return ((Decimal(now) - Decimal(before)) * 100 / Decimal(before)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
