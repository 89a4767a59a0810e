"""A report as a file for office programs: CSV (UTF-8 with a byte-order mark, so Excel opens
Cyrillic right) and an XLSX workbook with typed cells (XlsxWriter)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from decimal import Decimal
from typing import Any

import xlsxwriter

from motivation.domain.reporting import BUCKETS

GROUP_TITLES = {
    "en": {
        "manager": "Manager",
        "department": "Department",
        "region": "Region",
        "product": "Product",
        "source": "Source",
        "campaign": "Campaign",
        "line": "Line",
        "day": "Day",
        "week": "Week",
        "month": "Month",
        "quarter": "Quarter",
        "year": "Year",
    },
    "ru": {
        "manager": "Менеджер",
        "department": "Отдел",
        "region": "Регион",
        "product": "Продукт",
        "source": "Источник",
        "campaign": "Кампания",
        "line": "Линия",
        "day": "День",
        "week": "Неделя",
        "month": "Месяц",
        "quarter": "Квартал",
        "year": "Год",
    },
}
TOTAL = {"en": "Total", "ru": "Итого"}
CURRENCY_SIGN = {"RUB": "₽", "USD": "$", "EUR": "€"}


def file_name(report: dict[str, Any], extension: str) -> str:
    groups = "-".join(report["group_by"]) or "total"
    return f"{report['report']}_{groups}_{report['from']}_{report['to']}.{extension}"


def group_title(grouping: str, lang: str) -> str:
    return GROUP_TITLES.get(lang, GROUP_TITLES["en"])[grouping]


def as_text(value: Any) -> Any:
    if isinstance(value, dict):
        return "; ".join(f"{k}: {v}" for k, v in value.items())
    return "" if value is None else value


def to_csv(report: dict[str, Any], lang: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    columns = report["columns"]
    writer.writerow([group_title(g, lang) for g in report["group_by"]] + [c["label"] for c in columns])
    for row in report["rows"]:
        writer.writerow(
            [row["label"][g] for g in report["group_by"]] + [as_text(row["values"].get(c["key"])) for c in columns]
        )
    writer.writerow(
        [TOTAL[lang]]
        + [""] * (len(report["group_by"]) - 1)
        + [as_text(report["totals"].get(c["key"])) for c in columns]
        if report["group_by"]
        else [as_text(report["totals"].get(c["key"])) for c in columns]
    )
    return ("\ufeff" + out.getvalue()).encode()


def to_xlsx(report: dict[str, Any], lang: str) -> bytes:
    """One sheet: a bold header row frozen with the group columns, typed numbers with money,
    percentage and date formats, and a totals row."""
    out = io.BytesIO()
    book = xlsxwriter.Workbook(out, {"in_memory": True})
    sheet = book.add_worksheet(report["report"][:31])
    sign = CURRENCY_SIGN.get(report["currency"], report["currency"])
    header = book.add_format({"bold": True, "bg_color": "#E8EEF4", "border": 1, "text_wrap": True})
    bold = book.add_format({"bold": True, "top": 1})
    formats = {
        "money": book.add_format({"num_format": f'#,##0.00 "{sign}"'}),
        "percent": book.add_format({"num_format": "0.0%"}),
        "count": book.add_format({"num_format": "#,##0"}),
        "seconds": book.add_format({"num_format": "#,##0"}),
        "text": book.add_format({}),
        "date": book.add_format({"num_format": "yyyy-mm-dd"}),
    }
    totals_formats = {
        k: book.add_format({"bold": True, "top": 1, "num_format": f.num_format}) for k, f in formats.items()
    }
    groups = report["group_by"]
    columns = report["columns"]
    titles = [group_title(g, lang) for g in groups] + [c["label"] for c in columns]
    for col, title in enumerate(titles):
        sheet.write_string(0, col, title, header)
        sheet.set_column(col, col, max(12, min(40, len(title) + 4)))

    def write_value(row: int, col: int, kind: str, value: Any, fmt: dict[str, Any]) -> None:
        if value is None:
            sheet.write_blank(row, col, None, fmt[kind])
        elif kind == "percent":
            sheet.write_number(row, col, float(Decimal(value) / 100), fmt[kind])
        elif kind in ("money", "count", "seconds"):
            sheet.write_number(row, col, float(value), fmt[kind])
        else:
            sheet.write_string(row, col, str(as_text(value)), fmt["text"])

    for number, row in enumerate(report["rows"], start=1):
        for col, grouping in enumerate(groups):
            key = row["key"][grouping]
            if grouping == "day":
                sheet.write_datetime(number, col, datetime.fromisoformat(key), formats["date"])
            elif grouping in BUCKETS:
                sheet.write_string(number, col, key)
            else:
                sheet.write_string(number, col, row["label"][grouping])
        for col, column in enumerate(columns, start=len(groups)):
            write_value(number, col, column["kind"], row["values"].get(column["key"]), formats)
    last = len(report["rows"]) + 1
    if groups:
        sheet.write_string(last, 0, TOTAL[lang], bold)
        for col in range(1, len(groups)):
            sheet.write_blank(last, col, None, bold)
    for col, column in enumerate(columns, start=len(groups)):
        write_value(last, col, column["kind"], report["totals"].get(column["key"]), totals_formats)
    sheet.freeze_panes(1, len(groups))
    book.set_properties({"title": report["title"], "subject": f"{report['from']} – {report['to']}"})
    book.close()
    return out.getvalue()
