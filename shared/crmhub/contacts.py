"""Phone numbers and e-mail addresses: normalization for storage and dedup, masking for logs."""

from __future__ import annotations

import re

import phonenumbers

# Deliberately plain: RFC 5322 allows far more, but a CRM contact address that a person typed
# into a form or a directory is local@domain.tld; anything else is a typo worth a 422.
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def normalize_email(raw: str) -> str | None:
    """The address lower-cased and trimmed, or None when it is not a plausible address."""
    value = raw.strip().lower()
    if len(value) > 254 or not _EMAIL.match(value):
        return None
    if value.rsplit(".", 1)[-1].isdigit():
        return None
    return value


def normalize_phone(raw: str, default_region: str | None = "RU") -> str | None:
    """E.164 form of a phone number, or None when it is not a valid number.

    Numbers without a country code are read in `default_region` (ISO 3166 alpha-2); Russian
    numbers written with a leading 8 (8 912 ...) are understood the way people write them.
    """
    text = raw.strip()
    if not text or len(text) > 64:
        return None
    try:
        number = phonenumbers.parse(text, None if text.startswith("+") else default_region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


# Masking for logs: keep enough to correlate by eye (country code, last two digits, first
# letter and domain) and no more.
# Not a digit run that continues an identifier (`lead-2026…`, a UUID's last group, `#123…`, a path).
_PHONE_IN_TEXT = re.compile(r"(?<![\w+\-./#])\+?\d[\d\s().-]{8,}\d(?![\w-])")
_EMAIL_IN_TEXT = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")


def mask_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    if len(digits) < 6:
        return "*" * len(value)
    prefix = "+" if value.strip().startswith("+") else ""
    return f"{prefix}{digits[:1]}{'*' * (len(digits) - 3)}{digits[-2:]}"


def mask_contacts(text: str) -> str:
    """Mask every e-mail address and phone-like digit run inside free text (log messages)."""
    text = _EMAIL_IN_TEXT.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return _PHONE_IN_TEXT.sub(_mask_phone_match, text)


# dates (2026-11-27, 27.11.2026 12:38) and unix times (1732712345.123) are not phone numbers
_DATE_LIKE = re.compile(r"^(\d{4}-\d{2}-\d{2}|\d{2}\.\d{2}\.\d{4}|\d{9,10}\.\d{1,6}$)")


def _mask_phone_match(match: re.Match[str]) -> str:
    run = match.group(0)
    digits = sum(c.isdigit() for c in run)
    # 10-15 digits is a phone number (E.164 allows 15); dates and times are not
    if not 10 <= digits <= 15 or _DATE_LIKE.match(run):
        return run
    return mask_phone(run)
