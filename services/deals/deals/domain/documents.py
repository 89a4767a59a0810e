"""Documents of a deal (seed §2.10, §2.12): which templates there are, what a document says
(lines, VAT, totals, the amount in Russian words), and the invoice numbers. No I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

DocumentKind = Literal["invoice", "proposal", "act", "other"]
KOPECK = Decimal("0.01")
TEMPLATE_ID = r"^[a-z0-9][a-z0-9_-]{0,62}$"


class DocumentTemplate(BaseModel):
    """One template ops keep (`templates.json` beside the HTML files)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=TEMPLATE_ID)
    title: str = Field(min_length=1, max_length=200)
    kind: DocumentKind = "other"
    file: str = Field(pattern=r"^[A-Za-z0-9_.-]+\.html$")
    numbered: bool = False  # invoices: an unbroken sequence per year
    number_prefix: str = Field(default="", max_length=20)
    on_create: str | None = None  # the deal activity creating it records (invoice_issued, proposal_saved…)
    on_send: str | None = None  # the activity sending it records (proposal_sent…)
    description: str | None = None


class TemplateCatalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    templates: list[DocumentTemplate] = Field(min_length=1, max_length=200)

    def by_id(self, template_id: str) -> DocumentTemplate | None:
        return next((t for t in self.templates if t.id == template_id), None)


# --- the amount in words ---------------------------------------------------------------------------------

_UNITS = {
    "m": ("", "один", "два", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять"),
    "f": ("", "одна", "две", "три", "четыре", "пять", "шесть", "семь", "восемь", "девять"),
}
_TEENS = (
    "десять",
    "одиннадцать",
    "двенадцать",
    "тринадцать",
    "четырнадцать",
    "пятнадцать",
    "шестнадцать",
    "семнадцать",
    "восемнадцать",
    "девятнадцать",
)
_TENS = ("", "", "двадцать", "тридцать", "сорок", "пятьдесят", "шестьдесят", "семьдесят", "восемьдесят", "девяносто")
_HUNDREDS = ("", "сто", "двести", "триста", "четыреста", "пятьсот", "шестьсот", "семьсот", "восемьсот", "девятьсот")
# (one, two-to-four, five-and-more, gender) for each power of a thousand
_SCALES = (
    ("", "", "", "m"),
    ("тысяча", "тысячи", "тысяч", "f"),
    ("миллион", "миллиона", "миллионов", "m"),
    ("миллиард", "миллиарда", "миллиардов", "m"),
    ("триллион", "триллиона", "триллионов", "m"),
)


def plural(n: int, one: str, few: str, many: str) -> str:
    """The Russian form of a noun after the number n: 1 рубль, 2 рубля, 5 рублей, 21 рубль, 11 рублей."""
    n = abs(n) % 100
    if 11 <= n <= 19:
        return many
    if n % 10 == 1:
        return one
    if 2 <= n % 10 <= 4:
        return few
    return many


def _triple(n: int, gender: str) -> list[str]:
    words = [_HUNDREDS[n // 100]]
    rest = n % 100
    if 10 <= rest <= 19:
        words.append(_TEENS[rest - 10])
    else:
        words += [_TENS[rest // 10], _UNITS[gender][rest % 10]]
    return [w for w in words if w]


def number_in_words(n: int, gender: str = "m") -> str:
    """A whole number in Russian words (up to 999 trillions): 21 → "двадцать один"."""
    if n < 0 or n >= 10**15:
        raise ValueError(f"{n} is outside what documents spell out")
    if n == 0:
        return "ноль"
    words: list[str] = []
    for power in range(len(_SCALES) - 1, -1, -1):
        part = (n // 1000**power) % 1000
        if not part:
            continue
        one, few, many, scale_gender = _SCALES[power]
        words += _triple(part, scale_gender if power else gender)
        if power:
            words.append(plural(part, one, few, many))
    return " ".join(words)


def amount_in_words(amount: Decimal) -> str:
    """An amount of roubles as Russian invoices write it: "Сто пятьдесят тысяч рублей 50 копеек"."""
    amount = amount.quantize(KOPECK, rounding=ROUND_HALF_UP)
    if amount < 0:
        raise ValueError("a document's amount is not negative")
    roubles = int(amount)
    kopecks = int((amount - roubles) * 100)
    text = (
        f"{number_in_words(roubles)} {plural(roubles, 'рубль', 'рубля', 'рублей')} "
        f"{kopecks:02d} {plural(kopecks, 'копейка', 'копейки', 'копеек')}"
    )
    return text[0].upper() + text[1:]


# --- what a document says ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Line:
    number: int
    name: str
    quantity: Decimal
    unit: str
    price: Decimal
    total: Decimal


def lines_of(deal: Mapping[str, Any]) -> list[Line]:
    """The deal's product lines, or one line of its title and amount."""
    products = deal.get("products") or []
    if not products:
        amount = Decimal(str(deal.get("amount") or 0))
        return [Line(1, str(deal["title"]), Decimal(1), "шт", amount, amount)]
    found = []
    for number, item in enumerate(products, start=1):
        quantity, price = Decimal(str(item["quantity"])), Decimal(str(item["price"]))
        total = (quantity * price).quantize(KOPECK, rounding=ROUND_HALF_UP)
        found.append(Line(number, str(item["name"]), quantity, str(item.get("unit") or "шт"), price, total))
    return found


def vat_included(total: Decimal, rate: Decimal | None) -> Decimal | None:
    """The VAT inside a price that includes it (20 %: total × 20 / 120), to the kopeck; None: no VAT."""
    if rate is None:
        return None
    return (total * rate / (100 + rate)).quantize(KOPECK, rounding=ROUND_HALF_UP)


def document_context(
    deal: Mapping[str, Any],
    seller: Mapping[str, Any],
    *,
    number: str | None,
    day: date,
    template: DocumentTemplate,
) -> dict[str, Any]:
    """What a template is rendered with: the deal, the seller's and buyer's requisites, the lines,
    the totals with VAT and the amount in words."""
    lines = lines_of(deal)
    total = sum((line.total for line in lines), Decimal(0)).quantize(KOPECK)
    rate = seller.get("vat_rate")
    vat_rate = Decimal(str(rate)) if rate not in (None, "") else None
    fields = deal.get("fields") or {}
    contact = deal.get("contact") or {}
    buyer = {  # the client's requisites: the deal's fields buyer_name, buyer_inn, buyer_kpp, buyer_address
        "name": fields.get("buyer_name") or contact.get("name") or deal["title"],
        "inn": fields.get("buyer_inn"),
        "kpp": fields.get("buyer_kpp"),
        "address": fields.get("buyer_address"),
    }
    return {
        "template": template.model_dump(),
        "number": number,
        "date": day,
        "deal": deal,
        "seller": seller,
        "buyer": buyer,
        "lines": lines,
        "total": total,
        "vat_rate": vat_rate,
        "vat": vat_included(total, vat_rate),
        "total_in_words": amount_in_words(total),
        "items_count": len(lines),
    }


def document_number(prefix: str, sequence: int) -> str:
    return f"{prefix}{sequence}"


def safe_file_name(text: str) -> str:
    return re.sub(r"[^\w.-]+", "_", text).strip("_")[:80] or "document"
