"""A report's chart as SVG, drawn on the server (Vega-Lite through Altair, rendered by
vl-convert): bars for comparisons, lines for periods, a funnel for the funnel. The page needs no
script and no network to show it, and it prints as sharply as the text."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import altair as alt
import vl_convert

from motivation.domain.reporting import BUCKETS, FUNNEL_COLUMNS

WIDTH = 640


def _number(value: Any) -> float:
    return float(Decimal(str(value))) if value is not None else 0.0


def _data(values: list[dict[str, Any]]) -> Any:
    return alt.Data(values=values)  # type: ignore[no-untyped-call]


def chart_spec(report: dict[str, Any], lang: str) -> dict[str, Any] | None:
    """The Vega-Lite spec of a report's chart (None when there is nothing to draw)."""
    columns = {c["key"]: c for c in report["columns"]}
    if report["report"] == "funnel":
        data = [
            {"step": c.label(lang), "value": _number(report["totals"].get(c.key)), "order": n}
            for n, c in enumerate(FUNNEL_COLUMNS)
        ]
        chart = (
            alt.Chart(_data(data))
            .mark_bar(color="#2f6fab")
            .encode(
                y=alt.Y("step:N", sort=alt.EncodingSortField("order"), title=None),
                x=alt.X("value:Q", title=None),
                tooltip=["step:N", "value:Q"],
            )
        )
        return chart.properties(width=WIDTH, title=report["title"]).to_dict()  # type: ignore[no-any-return]
    if not report["rows"]:
        return None
    column = columns[report["chart_column"]]
    groups = report["group_by"]
    first = groups[0] if groups else None
    second = groups[1] if len(groups) > 1 else None
    data = [
        {
            "group": row["label"].get(first, "") if first else report["title"],
            "series": row["label"].get(second, "") if second else column["label"],
            "value": _number(row["values"].get(column["key"])),
        }
        for row in report["rows"]
    ]
    base = alt.Chart(_data(data))
    value = alt.Y("value:Q", title=column["label"])
    color = alt.Color("series:N", title=None) if second else alt.value("#2f6fab")
    if first in BUCKETS or second in BUCKETS:
        if second in BUCKETS:  # periods along the axis, the other grouping as lines
            data = [{**d, "group": d["series"], "series": d["group"]} for d in data]
            base = alt.Chart(_data(data))
            color = alt.Color("series:N", title=None)
        chart = base.mark_line(point=True).encode(
            x=alt.X("group:O", sort=None, title=None), y=value, color=color, tooltip=["group:N", "series:N", "value:Q"]
        )
    else:
        encoding: dict[str, Any] = {
            "x": alt.X("group:N", sort=None, title=None, axis=alt.Axis(labelAngle=-30, labelLimit=160)),
            "y": value,
            "color": color,
            "tooltip": ["group:N", "series:N", "value:Q"],
        }
        if second:
            encoding["xOffset"] = alt.XOffset("series:N")
        chart = base.mark_bar().encode(**encoding)
    return chart.properties(width=WIDTH, height=280, title=f"{report['title']}: {column['label']}").to_dict()  # type: ignore[no-any-return]


# Axis numbers as the locale writes them (1 200 000 in Russian, 1,200,000 in English).
NUMBER_LOCALES = {
    "ru": {"decimal": ",", "thousands": "\u00a0", "grouping": [3], "currency": ["", "\u00a0₽"]},
    "en": {"decimal": ".", "thousands": ",", "grouping": [3], "currency": ["$", ""]},
}


def chart_svg(report: dict[str, Any], lang: str) -> str | None:
    spec = chart_spec(report, lang)
    if spec is None:
        return None
    return str(vl_convert.vegalite_to_svg(spec, format_locale=NUMBER_LOCALES.get(lang, NUMBER_LOCALES["en"])))
