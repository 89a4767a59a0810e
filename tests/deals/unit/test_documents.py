"""What documents say, without I/O: Russian amounts in words (genders and plural forms across
every scale), VAT inside a price, the lines of a deal; and the CommerceML the 1C exchange
writes and reads (round trip, both encodings, hostile input)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deals.adapters.commerceml import BadExchangeFile, Order, OrderLine, orders_xml, parse_day, parse_documents
from deals.domain.documents import amount_in_words, lines_of, number_in_words, plural, vat_included


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        ("0", "Ноль рублей 00 копеек"),
        ("1", "Один рубль 00 копеек"),
        ("2.01", "Два рубля 01 копейка"),
        ("5.02", "Пять рублей 02 копейки"),
        ("11.11", "Одиннадцать рублей 11 копеек"),
        ("21.21", "Двадцать один рубль 21 копейка"),
        ("112", "Сто двенадцать рублей 00 копеек"),
        ("1000", "Одна тысяча рублей 00 копеек"),
        ("2000", "Две тысячи рублей 00 копеек"),
        ("5000", "Пять тысяч рублей 00 копеек"),
        ("21000", "Двадцать одна тысяча рублей 00 копеек"),
        ("150000.50", "Сто пятьдесят тысяч рублей 50 копеек"),
        ("1000000", "Один миллион рублей 00 копеек"),
        ("2342001.99", "Два миллиона триста сорок две тысячи один рубль 99 копеек"),
        ("1000000000", "Один миллиард рублей 00 копеек"),
        ("0.005", "Ноль рублей 01 копейка"),  # half a kopeck rounds up
    ],
)
def test_amounts_in_words_as_russian_invoices_write_them(amount, words):
    assert amount_in_words(Decimal(amount)) == words


def test_plural_forms_follow_the_last_digits():
    forms = ("рубль", "рубля", "рублей")
    assert [plural(n, *forms) for n in (1, 2, 4, 5, 11, 12, 14, 19, 21, 22, 25, 101, 111, 1001)] == [
        "рубль", "рубля", "рубля", "рублей", "рублей", "рублей", "рублей", "рублей",
        "рубль", "рубля", "рублей", "рубль", "рублей", "рубль",
    ]  # fmt: skip


@given(st.integers(min_value=0, max_value=10**15 - 1))
def test_every_whole_number_has_words_and_thousands_are_feminine(n):
    words = number_in_words(n).split()
    thousands = n // 1000 % 1000
    if thousands % 10 == 1 and thousands % 100 != 11:
        assert words[words.index("тысяча") - 1] == "одна"
    elif thousands % 10 == 2 and thousands % 100 != 12:
        assert words[words.index("тысячи") - 1] == "две"
    if n % 10 == 1 and n % 100 != 11:
        assert words[-1] == "один"  # roubles are masculine
    assert ("тысяча" in words or "тысячи" in words or "тысяч" in words) == bool(thousands)
    assert len(words) <= 5 * 4 + 4  # at most hundreds, tens, units and the scale word per group


def test_numbers_outside_documents_are_refused():
    with pytest.raises(ValueError, match="outside"):
        number_in_words(10**15)
    with pytest.raises(ValueError, match="negative"):
        amount_in_words(Decimal("-1"))


def test_vat_inside_a_price_and_the_lines_of_a_deal():
    assert vat_included(Decimal("150000.50"), Decimal(20)) == Decimal("25000.08")
    assert vat_included(Decimal("100"), Decimal(10)) == Decimal("9.09")
    assert vat_included(Decimal("100"), None) is None
    deal = {"title": "Кухня", "amount": "5000", "products": []}
    (line,) = lines_of(deal)
    assert (line.name, line.quantity, line.total) == ("Кухня", Decimal(1), Decimal("5000"))
    deal["products"] = [{"name": "Фасад", "quantity": "3", "price": "333.335"}]
    assert lines_of(deal)[0].total == Decimal("1000.01")


def test_orders_are_commerceml_1c_reads_in_either_encoding():
    order = Order(
        deal_id="deal-abc",
        created_at=datetime(2026, 11, 27, 9, 30, tzinfo=UTC),
        client_name="ООО «Ромашка»",
        client_inn="7701234567",
        client_kpp=None,
        client_phone="+79161234567",
        client_email=None,
        currency="RUB",
        total=Decimal("1500.50"),
        lines=[OrderLine("Стол & стул <дуб>", Decimal(1), Decimal("1500.50"), Decimal("1500.50"))],
        invoice_number="42",
    )
    for encoding in ("UTF-8", "windows-1251"):
        content = orders_xml([order], datetime(2026, 11, 27, 12, tzinfo=UTC), encoding)
        assert content.startswith(f'<?xml version="1.0" encoding="{encoding}"?>'.encode())
        (document,) = parse_documents(content)  # what a site reads back is what it wrote
        assert (document.order_id, document.number, document.total) == ("deal-abc", "deal-abc", Decimal("1500.50"))
        assert document.requisites["Номер счёта"] == "42"
        assert document.paid_on is None
    text = orders_xml([order], datetime(2026, 11, 27, 12, tzinfo=UTC)).decode()
    assert "Стол &amp; стул &lt;дуб&gt;" in text
    assert "<ИНН>7701234567</ИНН>" in text


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        ("<КоммерческаяИнформация>".encode(), "well-formed"),
        ('<!DOCTYPE a [<!ENTITY b "c">]><КоммерческаяИнформация/>'.encode(), "DTD"),
        ("<Каталог/>".encode(), "root"),
        ("<КоммерческаяИнформация/>".encode("cp1251"), "UTF-8"),
        (
            "<КоммерческаяИнформация><Документ><Сумма>1e999</Сумма></Документ></КоммерческаяИнформация>".encode(),
            "range",
        ),
        ("<КоммерческаяИнформация><Документ><Сумма>NaN</Сумма></Документ></КоммерческаяИнформация>".encode(), "range"),
    ],
)
def test_files_that_cannot_be_read_are_refused_with_the_reason(content, reason):
    with pytest.raises(BadExchangeFile, match=reason):
        parse_documents(content)


def test_1c_dates_in_their_usual_shapes():
    assert parse_day("2026-11-27") == date(2026, 11, 27)
    assert parse_day("27.11.2026") == date(2026, 11, 27)
    assert parse_day("2026-11-27T10:15:00") == date(2026, 11, 27)
    assert parse_day("вчера") is None
