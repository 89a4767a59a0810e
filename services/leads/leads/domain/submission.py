"""A site submission in the hub's canonical form, normalized, with the checks that decide
whether it may become a lead at all. No I/O."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol

from crmhub.contacts import normalize_email, normalize_phone
from crmhub.schemas.leads import LeadContact, Utm

CustomValue = str | int | float | bool | None
Channel = Literal["form", "phone", "api"]


class EnteredUtm(Protocol):
    source: str | None
    medium: str | None
    campaign: str | None
    content: str | None
    term: str | None


class EnteredLead(Protocol):
    """What a person entered, in the canonical fields (validated at the edge: leads.adapters.formats.canonical)."""

    name: str | None
    phone: str | None
    email: str | None
    message: str | None
    product: str | None
    region: str | None
    page_url: str | None
    consent: bool | None
    custom: dict[str, CustomValue]
    submission_id: str | None

    @property
    def utm(self) -> EnteredUtm: ...


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
    lead: EnteredLead,
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
        utm=Utm(
            source=lead.utm.source,
            medium=lead.utm.medium,
            campaign=lead.utm.campaign,
            content=lead.utm.content,
            term=lead.utm.term,
        ),
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
