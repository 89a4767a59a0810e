from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmhub.contacts import mask_contacts, normalize_email, normalize_phone


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+7 (912) 345-67-89", "RU", "+79123456789"),
        ("8 912 345 67 89", "RU", "+79123456789"),
        ("9123456789", "RU", "+79123456789"),
        ("+44 20 7946 0958", "RU", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("12345", "RU", None),
        ("not a phone", "RU", None),
        ("", "RU", None),
        ("+7" + "9" * 80, "RU", None),
    ],
)
def test_phone_numbers_normalize_to_e164_or_none(raw, region, expected):
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ivan.Petrov@Example.COM ", "ivan.petrov@example.com"),
        ("a+tag@sub.example.ru", "a+tag@sub.example.ru"),
        ("no-at-sign.example.com", None),
        ("a@b", None),
        ("a@1.2.3.4", None),
        ('{"$gt": ""}@x.ru', None),
        ("x" * 65 + "@example.com", None),
    ],
)
def test_emails_normalize_lowercased_or_none(raw, expected):
    assert normalize_email(raw) == expected


def test_masking_hides_phones_and_emails_but_keeps_dates_and_ids():
    text = (
        "lead from +7 (912) 345-67-89, 89123456789 and Ivan.Petrov@example.com at 2026-11-26 22:10:24, id 6a6227e3-97cb"
    )
    masked = mask_contacts(text)
    assert "345-67" not in masked
    assert "9123456789" not in masked
    assert "Ivan.Petrov" not in masked
    assert "I***@example.com" in masked
    assert "2026-11-26 22:10:24" in masked
    assert "6a6227e3-97cb" in masked


@given(
    st.from_regex(r"\+7 ?9\d{2} ?\d{3}[ -]?\d{2}[ -]?\d{2}", fullmatch=True), st.text(alphabet="abc ,.:", max_size=20)
)
def test_no_phone_number_survives_masking(phone, padding):
    masked = mask_contacts(f"{padding} {phone} {padding}")
    digits = re.sub(r"\D", "", phone)
    assert digits not in re.sub(r"\D", "", masked)


@pytest.mark.parametrize(
    "kept",
    [
        "lead-20261127-123456",
        "deal-1234567890123",
        "550e8400-e29b-41d4-a716-446655440000",
        "27.11.2026 12:38",
        "1732712345.123",
        "/v1/calls/call-89161234567",
        "#89161234567",
    ],
)
def test_identifiers_dates_and_times_are_not_taken_for_phone_numbers(kept):
    assert mask_contacts(f"lead {kept} done") == f"lead {kept} done"


@pytest.mark.parametrize("phone", ["+7 916 123-45-67", "8 (916) 123 45 67", "+79161234567"])
def test_phones_after_a_label_are_still_masked(phone):
    for text in (f"phone={phone},", f"caller: {phone}", f"from {phone}."):
        assert "123" not in mask_contacts(text).replace("+7", "")
