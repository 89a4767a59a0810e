"""CommerceML 2 documents of the 1C ↔ site exchange (the "sale" part): the hub's orders as 1C's
`mode=query` reads them, and 1C's documents back (`mode=file`): order status, invoice number
and date from 1C, and payments.

The element and requisite names follow the CommerceML 2 schema (commerceml.ru) and the exchange
as 1C-Bitrix documents it for 1C:Управление торговлей, Бухгалтерия and УНФ ("Обмен заказами с
1С", dev.1c-bitrix.ru): a `КоммерческаяИнформация` holding a `Документ` per order with
`ХозОперация` "Заказ товара", `Контрагенты`, `Товары`, and `ЗначенияРеквизитов`; 1C reports a
payment in the requisites "Номер оплаты по 1С" / "Дата оплаты по 1С" (the date "T" means none).
Parsing is hardened (defusedxml: no entities, no DTDs, no external references), and takes
UTF-8 and windows-1251 as 1C configurations send them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from xml.etree.ElementTree import Element, SubElement, tostring

import defusedxml.ElementTree as SafeXML
from defusedxml import DefusedXmlException

SCHEMA_VERSION = "2.08"
ORDER = "Заказ товара"
NO_DATE = ("", "T", "Т")  # 1C writes an empty date as "T" (Latin or Cyrillic)


class BadExchangeFile(ValueError):
    """A file 1C sent cannot be read: malformed, hostile, wrongly encoded (HTTP 400)."""


@dataclass(frozen=True)
class OrderLine:
    name: str
    quantity: Decimal
    price: Decimal
    total: Decimal
    unit: str = "шт"


@dataclass(frozen=True)
class Order:
    """A hub order as 1C reads it: a deal at the invoice stage."""

    deal_id: str
    created_at: datetime
    client_name: str
    client_inn: str | None
    client_kpp: str | None
    client_phone: str | None
    client_email: str | None
    currency: str
    total: Decimal
    lines: list[OrderLine]
    invoice_number: str | None = None
    comment: str | None = None


@dataclass(frozen=True)
class ReportedDocument:
    """A document 1C sent back: which order, and what 1C says of it."""

    order_id: str | None  # Ид (the deal id the hub gave it)
    number: str | None  # Номер
    total: Decimal | None
    requisites: dict[str, str] = field(default_factory=dict)

    @property
    def paid_on(self) -> str | None:
        value = (self.requisites.get("Дата оплаты по 1С") or "").strip()
        return None if value in NO_DATE else value

    @property
    def payment_number(self) -> str | None:
        return (self.requisites.get("Номер оплаты по 1С") or "").strip() or None


def _text(parent: Element, tag: str, value: Any) -> Element:
    child = SubElement(parent, tag)
    child.text = "" if value is None else str(value)
    return child


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def orders_xml(orders: list[Order], now: datetime, encoding: str = "UTF-8") -> bytes:
    """The orders as one CommerceML document, in the encoding the exchange is set to."""
    root = Element(
        "КоммерческаяИнформация", {"ВерсияСхемы": SCHEMA_VERSION, "ДатаФормирования": now.strftime("%Y-%m-%dT%H:%M:%S")}
    )
    for order in orders:
        document = SubElement(root, "Документ")
        _text(document, "Ид", order.deal_id)
        _text(document, "Номер", order.deal_id)
        _text(document, "Дата", order.created_at.date().isoformat())
        _text(document, "Время", order.created_at.strftime("%H:%M:%S"))
        _text(document, "ХозОперация", ORDER)
        _text(document, "Роль", "Продавец")
        _text(document, "Валюта", "руб" if order.currency == "RUB" else order.currency)
        _text(document, "Курс", 1)
        _text(document, "Сумма", _money(order.total))
        if order.comment:
            _text(document, "Комментарий", order.comment)
        parties = SubElement(document, "Контрагенты")
        client = SubElement(parties, "Контрагент")
        _text(client, "Ид", f"{order.deal_id}#client")
        _text(client, "Наименование", order.client_name)
        _text(client, "ПолноеНаименование", order.client_name)
        if order.client_inn:
            _text(client, "ИНН", order.client_inn)
        if order.client_kpp:
            _text(client, "КПП", order.client_kpp)
        _text(client, "Роль", "Покупатель")
        contacts = [("Телефон рабочий", order.client_phone), ("Почта", order.client_email)]
        if any(v for _, v in contacts):
            box = SubElement(client, "Контакты")
            for kind, value in contacts:
                if value:
                    contact = SubElement(box, "Контакт")
                    _text(contact, "Тип", kind)
                    _text(contact, "Значение", value)
        goods = SubElement(document, "Товары")
        for number, line in enumerate(order.lines, start=1):
            item = SubElement(goods, "Товар")
            _text(item, "Ид", f"{order.deal_id}#{number}")
            _text(item, "Наименование", line.name)
            SubElement(item, "БазоваяЕдиница", {"Код": "796", "НаименованиеПолное": "Штука"}).text = line.unit
            _text(item, "ЦенаЗаЕдиницу", _money(line.price))
            _text(item, "Количество", line.quantity.normalize())
            _text(item, "Сумма", _money(line.total))
            values = SubElement(item, "ЗначенияРеквизитов")
            for name, value in (("ВидНоменклатуры", "Услуга"), ("ТипНоменклатуры", "Услуга")):
                requisite = SubElement(values, "ЗначениеРеквизита")
                _text(requisite, "Наименование", name)
                _text(requisite, "Значение", value)
        values = SubElement(document, "ЗначенияРеквизитов")
        for name, value in (
            ("Статус заказа", "Счёт выставлен"),
            ("Номер счёта", order.invoice_number),
            ("Метод оплаты", "Безналичный расчёт"),
        ):
            if value:
                requisite = SubElement(values, "ЗначениеРеквизита")
                _text(requisite, "Наименование", name)
                _text(requisite, "Значение", value)
    body = tostring(root, encoding="unicode")
    return f'<?xml version="1.0" encoding="{encoding}"?>\n{body}'.encode(encoding)


def _find(element: Element, tag: str) -> str | None:
    child = element.find(tag)
    return None if child is None or child.text is None else child.text.strip()


def parse_documents(content: bytes) -> list[ReportedDocument]:
    """The documents of a file 1C sent (`mode=file`): orders with their status and payments."""
    if not content.strip():
        raise BadExchangeFile("the file is empty")
    head = content[:200].lower()
    if b"encoding=" not in head:
        try:
            content.decode("utf-8")
        except UnicodeDecodeError:
            raise BadExchangeFile(
                "the file is not UTF-8 and declares no encoding (1C sends UTF-8 or windows-1251)"
            ) from None
    try:
        root = SafeXML.fromstring(content, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise BadExchangeFile(
            f"the file is refused: {type(exc).__name__} (DTDs, entities and external references are not accepted)"
        ) from None
    except SafeXML.ParseError as exc:
        raise BadExchangeFile(f"the file is not well-formed XML: {exc}") from None
    except (LookupError, ValueError) as exc:
        raise BadExchangeFile(f"the file's encoding cannot be read: {exc}") from None
    if root.tag != "КоммерческаяИнформация":
        raise BadExchangeFile(f"the root element is {root.tag[:60]!r}, not КоммерческаяИнформация")
    found = []
    for document in [*root.findall("Документ"), *root.findall("Контейнер/Документ")]:
        requisites = {}
        for requisite in document.findall("ЗначенияРеквизитов/ЗначениеРеквизита"):
            name, value = _find(requisite, "Наименование"), _find(requisite, "Значение")
            if name:
                requisites[name[:100]] = (value or "")[:500]
        total = _find(document, "Сумма")
        try:
            amount = Decimal(total.replace(",", ".").replace("\u00a0", "").replace(" ", "")) if total else None
        except InvalidOperation:
            raise BadExchangeFile(
                f"Сумма {(total or '')[:40]!r} of document {_find(document, 'Номер')!r} is not a number"
            ) from None
        if amount is not None and (not amount.is_finite() or amount < 0 or amount > Decimal("1e12")):
            raise BadExchangeFile(f"Сумма {total!r} is out of range")
        found.append(ReportedDocument(_find(document, "Ид"), _find(document, "Номер"), amount, requisites))
    return found


def parse_day(value: str) -> date | None:
    """A 1C date ("2026-11-27", "27.11.2026", "2026-11-27T10:00:00"), or None if it is none of those."""
    text = value.strip()
    for pattern in ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%d", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    return None
