"""The team directory: departments and managers, and the events that carry their latest state.

Owned by the motivation service; every other service keeps a read model of it from the
compacted topic `crm.team` (see crmhub.team_directory).
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Annotated, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, model_validator

from crmhub import topics
from crmhub.contacts import normalize_email
from crmhub.events import EventData

ENTITY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
EntityId = Annotated[str, StringConstraints(pattern=ENTITY_ID_PATTERN)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Region = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Language = Literal["ru", "en"]


def _check_timezone(value: str) -> str:
    if len(value) > 64:
        raise ValueError("unknown time zone")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name such as Europe/Moscow)") from None
    return value


def _check_email(value: str) -> str:
    email = normalize_email(value)
    if email is None:
        raise ValueError("not a valid e-mail address")
    return email


def _check_e164(value: str) -> str:
    from crmhub.contacts import normalize_phone

    if not value.startswith("+"):
        raise ValueError("phone must be in international format, starting with + and the country code")
    phone = normalize_phone(value, None)
    if phone is None:
        raise ValueError("not a valid phone number")
    return phone


TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]
Email = Annotated[str, StringConstraints(max_length=254), AfterValidator(_check_email)]
Phone = Annotated[str, StringConstraints(max_length=32), AfterValidator(_check_e164)]
TelegramChatId = Annotated[str, StringConstraints(pattern=r"^-?\d{1,20}$|^@[A-Za-z0-9_]{5,32}$")]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")


class WorkingInterval(_Model):
    """Working time within one day, in the department's time zone. The end is exclusive, and
    an end of 00:00 means midnight at the end of the day (00:00-00:00 is the whole day)."""

    start: time
    end: time

    @model_validator(mode="after")
    def _ordered(self) -> WorkingInterval:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("times are local to the department's time zone: give them without an offset")
        if self.end != time(0) and self.end <= self.start:
            raise ValueError("end must be after start (split shifts that cross midnight into two days)")
        return self

    def covers(self, moment: time) -> bool:
        return self.start <= moment and (self.end == time(0) or moment < self.end)


class Absence(_Model):
    kind: Literal["vacation", "sick", "other"]
    start: datetime
    end: datetime

    @model_validator(mode="after")
    def _ordered(self) -> Absence:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end need a UTC offset, e.g. 2026-12-01T00:00:00+03:00")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        return self


WorkingHours = dict[Weekday, Annotated[list[WorkingInterval], Field(max_length=6)]]
Channel = Literal["email", "telegram", "webhook", "inbox", "log"]


class QuietHours(_Model):
    """Local time (department's zone) when only urgent notifications go through; may cross midnight."""

    start: time
    end: time

    def covers(self, moment: time) -> bool:
        if self.start <= self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end


class NotificationPreferences(_Model):
    channels: Annotated[list[Channel], Field(max_length=5)] | None = None
    quiet_hours: QuietHours | None = None


def default_working_hours() -> WorkingHours:
    nine_to_six = [WorkingInterval(start=time(9), end=time(18))]
    return {day: list(nine_to_six) for day in WEEKDAYS[:5]}


def _check_country(value: str) -> str:
    import holidays

    if value not in holidays.list_supported_countries():
        raise ValueError(
            f"no production calendar is known for country {value!r} (use an ISO 3166-1 alpha-2 code such as RU)"
        )
    return value


class WorkCalendarConfig(_Model):
    """The department's production calendar: its country's public holidays and transferred
    working days and days off (from the `holidays` package), plus the company's own exceptions."""

    country: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$"), AfterValidator(_check_country)] = "RU"
    subdivision: Annotated[str, StringConstraints(max_length=10)] | None = None
    days_off: Annotated[list[date], Field(max_length=400)] = Field(default_factory=list)
    working_days: Annotated[list[date], Field(max_length=400)] = Field(default_factory=list)

    @model_validator(mode="after")
    def _disjoint(self) -> WorkCalendarConfig:
        both = sorted(set(self.days_off) & set(self.working_days))
        if both:
            raise ValueError(f"a date cannot be both a day off and a working day: {both[0].isoformat()}")
        return self


class Department(_Model):
    id: EntityId
    name: Name
    region: Region
    timezone: TimeZoneName = "Europe/Moscow"
    calendar: WorkCalendarConfig = Field(default_factory=WorkCalendarConfig)
    seasonal: bool = False
    head_manager_id: EntityId | None = None
    active: bool = True


class Manager(_Model):
    id: EntityId
    name: Name
    department_id: EntityId
    region: Region | None = None
    email: Email
    phone: Phone | None = None
    telegram_chat_id: TelegramChatId | None = None
    # A new e-mail or Telegram chat waits here until it is confirmed from that address; until
    # then notifications keep going to the confirmed one above.
    pending_email: Email | None = None
    pending_telegram_chat_id: TelegramChatId | None = None
    language: Language = "ru"
    working_hours: WorkingHours = Field(default_factory=default_working_hours)
    absences: Annotated[list[Absence], Field(max_length=100)] = Field(default_factory=list)
    active: bool = True
    capacity: Annotated[int, Field(ge=0, le=10_000)] = 20
    # Pay (base salary, tier tables) is not part of the directory every service reads from
    # crm.team: the motivation service keeps it in pay profiles (PUT /v1/pay-profiles/{id}).
    notifications: NotificationPreferences = Field(default_factory=NotificationPreferences)


Change = Literal["created", "updated", "deactivated", "activated"]


class DepartmentUpserted(EventData):
    """The full, latest state of a department after a change."""

    event_type: ClassVar[str] = "team.department.upserted"
    topic: ClassVar[topics.Topic] = topics.TEAM

    change: Change
    version: int
    department: Department


class ManagerUpserted(EventData):
    """The full, latest state of a manager after a change."""

    event_type: ClassVar[str] = "team.manager.upserted"
    topic: ClassVar[topics.Topic] = topics.TEAM

    change: Change
    version: int
    manager: Manager


SCOPES = ("leads:read", "leads:write", "calls:read", "deals:read", "deals:write", "reports:read", "webhooks:manage")
Scope = Literal[
    "leads:read", "leads:write", "calls:read", "deals:read", "deals:write", "reports:read", "webhooks:manage"
]


class ApiToken(_Model):
    """An integration's API token as every service needs to know it: which scopes, and whether it
    still works. The token itself is never published (motivation keeps only its SHA-256)."""

    id: EntityId
    name: Name
    scopes: Annotated[list[Scope], Field(min_length=1, max_length=len(SCOPES))]
    active: bool = True
    expires_at: datetime


class ApiTokenUpserted(EventData):
    """The latest state of an integration's API token (issued or revoked)."""

    event_type: ClassVar[str] = "team.api_token.upserted"
    topic: ClassVar[topics.Topic] = topics.TEAM

    version: int
    api_token: ApiToken
