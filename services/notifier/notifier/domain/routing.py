"""Who hears about what, on which channel, with which words: routing is data.

A route maps an event type to recipient rules (the lead's or call's manager, the head of
department), a template and urgency. Recipients are resolved from the team directory: their
contacts, language, channels and quiet hours. No I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from crmhub.schemas.team import Channel, Manager, QuietHours
from crmhub.team_directory import TeamDirectory

RecipientRule = Literal["manager", "head"]


@dataclass(frozen=True)
class Route:
    event_type: str
    recipients: tuple[RecipientRule, ...]
    template: str
    urgent: bool
    description: str
    # Only these channels, whatever the person chose (a link that is a credential goes by e-mail only).
    channels: tuple[Channel, ...] | None = None
    # To the address the event names (a new one to confirm), not the one in the directory.
    to_named_address: bool = False


DEFAULT_ROUTES: tuple[Route, ...] = (
    Route(
        "lead.assigned",
        ("manager",),
        "lead_assigned",
        False,
        "the manager given a lead: who, phone, what they want, the SLA deadline",
    ),
    Route(
        "lead.sla_breached",
        ("manager", "head"),
        "lead_sla_breached",
        True,
        "a lead not taken in time: the manager and the head of department",
    ),
    Route(
        "call.missed",
        ("manager",),
        "call_missed",
        False,
        "a missed call waits for a call back: the manager it was meant for",
    ),
    Route(
        "call.callback_overdue",
        ("manager", "head"),
        "callback_overdue",
        True,
        "nobody called back in time: the manager and the head",
    ),
    Route(
        "account.password_reset_requested",
        ("manager",),
        "password_reset",
        True,
        "a one-time password-reset link: to the person's e-mail only",
        channels=("email",),
    ),
    Route(
        "account.address_confirmation_requested",
        ("manager",),
        "address_confirmation",
        True,
        "a new e-mail or Telegram chat is confirmed from there before client data goes to it",
        to_named_address=True,
    ),
)


@dataclass(frozen=True)
class Recipient:
    manager_id: str
    role: RecipientRule
    language: str
    timezone: str
    email: str | None
    telegram_chat_id: str | None
    channels: tuple[Channel, ...]
    quiet_hours: QuietHours | None


def _manager_of(payload: dict[str, Any]) -> str | None:
    if payload.get("manager_id"):
        return str(payload["manager_id"])
    call = payload.get("call")
    if isinstance(call, dict) and call.get("manager_id"):
        return str(call["manager_id"])
    return None


def _head_of(payload: dict[str, Any], directory: TeamDirectory) -> str | None:
    if payload.get("head_manager_id"):
        return str(payload["head_manager_id"])
    manager = directory.manager(_manager_of(payload) or "")
    department = directory.department(manager.department_id) if manager else None
    return department.head_manager_id if department else None


def _usable(manager: Manager, wanted: Sequence[Channel]) -> tuple[Channel, ...]:
    usable: list[Channel] = []
    for channel in wanted:
        if channel == "email" and not manager.email:
            continue
        if channel == "telegram" and not manager.telegram_chat_id:
            continue
        if channel == "webhook":
            continue  # webhooks go to configured endpoints, not to people
        usable.append(channel)
    return tuple(dict.fromkeys(usable))


def recipients_for(
    route: Route, payload: dict[str, Any], directory: TeamDirectory, *, default_channels: Sequence[Channel]
) -> list[Recipient]:
    found: dict[str, Recipient] = {}
    for rule in route.recipients:
        manager_id = _manager_of(payload) if rule == "manager" else _head_of(payload, directory)
        manager = directory.manager(manager_id or "")
        if manager is None or not manager.active or manager.id in found:
            continue
        department = directory.department(manager.department_id)
        prefs = manager.notifications
        recipient = Recipient(
            manager_id=manager.id,
            role=rule,
            language=manager.language,
            timezone=department.timezone if department else "UTC",
            email=manager.email,
            telegram_chat_id=manager.telegram_chat_id,
            channels=_usable(
                manager, route.channels or (prefs.channels if prefs.channels is not None else default_channels)
            ),
            quiet_hours=prefs.quiet_hours,
        )
        if route.to_named_address:
            recipient = _at_named_address(recipient, payload)
        found[manager.id] = recipient
    return [r for r in found.values() if r.channels]


def _at_named_address(recipient: Recipient, payload: dict[str, Any]) -> Recipient:
    """The same person, reached only at the address the event names, on its channel."""
    address = str(payload.get("address") or "")
    if payload.get("channel") == "telegram":
        return replace(recipient, email=None, telegram_chat_id=address, channels=("telegram",))
    return replace(recipient, email=address, telegram_chat_id=None, channels=("email",))


def not_before(recipient: Recipient, *, urgent: bool, now: datetime) -> datetime | None:
    """When a message may go out: at once, or (non-urgent, in quiet hours) when they end."""
    quiet = recipient.quiet_hours
    if urgent or quiet is None:
        return None
    zone = ZoneInfo(recipient.timezone)
    local = now.astimezone(zone)
    if not quiet.covers(local.time()):
        return None
    end = datetime.combine(local.date(), quiet.end, zone)
    if end <= local:
        end = datetime.combine(local.date() + timedelta(days=1), quiet.end, zone)
    return end.astimezone(now.tzinfo)
