"""A site submission in the hub's canonical form, normalized, with the checks that decide
whether it may become a lead at all. No I/O."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from crmhub.contacts import normalize_email, normalize_phone
from crmhub.schemas.leads import LeadContact, Utm

Text = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]
CustomValue = str | int | float | bool | None
Channel = Literal["form", "phone", "api"]


def _check_custom(value: dict[str, CustomValue]) -> dict[str, CustomValue]:
    for key, item in value.items():
        if not key or len(key) > 64 or key.startswith("$") or "." in key or "\x00" in key:
            raise ValueError(f"custom field name {key[:64]!r} is not allowed (1-64 characters, no '$' prefix, no '.')")
        if isinstance(item, str) and len(item) > 2000:
            raise ValueError(f"custom field {key!r} is longer than 2000 characters")
    return value


class UtmInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: Text | None = None
    medium: Text | None = None
    campaign: Text | None = None
    content: Text | None = None
    term: Text | None = None


class LeadInput(BaseModel):
    """The canonical JSON lead (`POST /v1/leads`, sources of format `json`)."""

    model_config = ConfigDict(extra="forbid")

    name: Text | None = None
    phone: Annotated[str, StringConstraints(max_length=64)] | None = None
    email: Annotated[str, StringConstraints(max_length=254)] | None = None
    message: LongText | None = None
    product: Text | None = None
    region: Text | None = None
    page_url: Annotated[str, StringConstraints(max_length=2000)] | None = None
    utm: UtmInput = UtmInput()
    consent: bool | None = None
    custom: Annotated[dict[str, CustomValue], Field(max_length=50)] = {}
    submission_id: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None

    @field_validator("custom")
    @classmethod
    def _custom(cls, value: dict[str, CustomValue]) -> dict[str, CustomValue]:
        return _check_custom(value)


class InvalidSubmission(ValueError):
    """The submission cannot become a lead; `fields` name what is wrong."""

    def __init__(self, message: str, fields: list[str]) -> None:
        super().__init__(message)
        self.fields = fields


@dataclass(frozen=True)
class Submission:
    """A normalized submission, ready to become a lead or a touch of one."""

    source_id: str
    channel: Channel
    contact: LeadContact
    phone_raw: str | None
    message: str | None
    product: str | None
    region: str | None
    page_url: str | None
    utm: Utm
    consent: bool | None
    custom: dict[str, CustomValue]
    submission_key: str | None
    received_at: datetime

    def fingerprint(self) -> str:
        """Identical payloads give identical fingerprints (double clicks, blind retries)."""
        body = {
            "contact": self.contact.model_dump(),
            "phone_raw": self.phone_raw,
            "message": self.message,
            "product": self.product,
            "region": self.region,
            "page_url": self.page_url,
            "utm": self.utm.model_dump(),
            "custom": self.custom,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def normalize(
    lead: LeadInput,
    *,
    source_id: str,
    channel: Channel,
    received_at: datetime,
    phone_region: str,
    default_product: str | None = None,
    default_region: str | None = None,
    submission_key: str | None = None,
) -> Submission:
    """Normalize contacts (E.164 phone, lower-case e-mail); a lead needs at least one that works."""
    phone = normalize_phone(lead.phone, phone_region) if lead.phone else None
    email = normalize_email(lead.email) if lead.email else None
    if phone is None and email is None:
        problems = []
        problems.append("phone is not a valid phone number" if lead.phone else "phone is missing")
        problems.append("email is not a valid e-mail address" if lead.email else "email is missing")
        raise InvalidSubmission(f"a lead needs a valid phone or e-mail: {'; '.join(problems)}", ["phone", "email"])
    return Submission(
        source_id=source_id,
        channel=channel,
        contact=LeadContact(name=lead.name or None, phone=phone, email=email),
        phone_raw=lead.phone if lead.phone and phone is None else None,
        message=lead.message or None,
        product=lead.product or default_product,
        region=lead.region or default_region,
        page_url=lead.page_url or None,
        utm=Utm(**lead.utm.model_dump()),
        consent=lead.consent,
        custom=dict(lead.custom),
        submission_key=submission_key or lead.submission_id,
        received_at=received_at,
    )


@dataclass(frozen=True)
class Blocklist:
    phones: frozenset[str] = frozenset()
    emails: frozenset[str] = frozenset()
    domains: frozenset[str] = frozenset()


def spam_reason(submission: Submission, *, honeypot_value: Any, blocklist: Blocklist) -> str | None:
    """Why this submission is spam, or None. Spam is counted and logged, never a lead."""
    if honeypot_value not in (None, "", [], False):
        return "honeypot"
    if submission.contact.phone and submission.contact.phone in blocklist.phones:
        return "blocked_phone"
    email = submission.contact.email
    if email and email in blocklist.emails:
        return "blocked_email"
    if email and email.rsplit("@", 1)[-1] in blocklist.domains:
        return "blocked_domain"
    return None
