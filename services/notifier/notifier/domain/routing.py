"""Who hears about what, on which channel, with which words: routing is data.

A route maps an event type (optionally only events whose fields match) to recipient rules (the
event's manager, the head of department, the people the event lists, the person a field
names), a template and urgency; the first matching route of an event type applies. The routes
come from `routing.json` (or NOTIFIER_ROUTING_FILE; `notifier.adapters.routing_file`), so a new
event type is routed by adding data. Recipients are resolved from the team directory: their
contacts, language, channels and quiet hours. No I/O.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from crmhub.schemas.team import Channel, Manager, QuietHours
from crmhub.team_directory import TeamDirectory

RecipientRule = str
"""`manager` (the event's manager), `head` (the head of their department, or the event's
`head_manager_id`), `listed` (the event's `recipient_ids`), or `field:<dotted.path>` (the person
a field of the event names: a manager id, or an actor such as `manager:anna`)."""


class RoutingError(ValueError):
    """The routing data cannot be used; the notifier refuses to start."""


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
    # Only events whose fields have one of these values (`{"alert": ["negative_feedback"]}`).
    match: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # Nobody is told about what they did themselves (a task they closed or moved).
    skip_actor: bool = False
    # Recipient rules whose people are left out (`field:task.created_by`: a task one set for oneself).
    not_to: tuple[RecipientRule, ...] = ()

    def matches(self, payload: dict[str, Any]) -> bool:
        return all(str(_at_path(payload, name)) in wanted for name, wanted in self.match)


def _check_rule(rule: str) -> str:
    if rule in ("manager", "head", "listed") or (rule.startswith("field:") and len(rule) > 6):
        return rule
    raise RoutingError(f"unknown recipient rule {rule!r} (manager, head, listed, field:<path>)")


def parse_routes(raw: Any) -> tuple[Route, ...]:
    """Routes from their JSON form (`{"routes": [...]}`), checked."""
    items = raw.get("routes") if isinstance(raw, dict) else None
    if not isinstance(items, list):
        raise RoutingError('routing data is {"routes": [...]}')
    routes = []
    for index, item in enumerate(items):
        try:
            routes.append(
                Route(
                    event_type=str(item["event_type"]),
                    recipients=tuple(_check_rule(str(r)) for r in item["recipients"]),
                    template=str(item["template"]),
                    urgent=bool(item.get("urgent", False)),
                    description=str(item.get("description", "")),
                    channels=tuple(item["channels"]) if item.get("channels") else None,
                    to_named_address=bool(item.get("to_named_address", False)),
                    match=tuple((str(k), tuple(str(v) for v in values)) for k, values in item.get("match", {}).items()),
                    skip_actor=bool(item.get("skip_actor", False)),
                    not_to=tuple(_check_rule(str(r)) for r in item.get("not_to", [])),
                )
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise RoutingError(f"route #{index + 1}: missing or malformed {exc}") from None
    return tuple(routes)


def route_for(routes: Sequence[Route], event_type: str, payload: dict[str, Any]) -> Route | None:
    """The first route for the event type whose `match` fits the event (a routing table)."""
    return next((r for r in routes if r.event_type == event_type and r.matches(payload)), None)


def _at_path(payload: dict[str, Any], path: str) -> Any:
    value: Any = payload
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


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


def _people(rule: RecipientRule, payload: dict[str, Any], directory: TeamDirectory) -> list[str]:
    if rule == "manager":
        return [m] if (m := _manager_of(payload)) else []
    if rule == "head":
        return [h] if (h := _head_of(payload, directory)) else []
    if rule == "listed":
        listed = payload.get("recipient_ids")
        return [str(i) for i in listed] if isinstance(listed, list) else []
    named = _at_path(payload, rule.removeprefix("field:"))
    return [str(named).removeprefix("manager:")] if isinstance(named, str) and named else []


def recipients_for(
    route: Route,
    payload: dict[str, Any],
    directory: TeamDirectory,
    *,
    default_channels: Sequence[Channel],
    actor: str | None = None,
) -> list[Recipient]:
    found: dict[str, Recipient] = {}
    left_out = {person for rule in route.not_to for person in _people(rule, payload, directory)}
    for rule in route.recipients:
        for manager_id in _people(rule, payload, directory):
            if manager_id not in left_out:
                _add(found, rule, manager_id, route, payload, directory, default_channels, actor)
    return [r for r in found.values() if r.channels]


def _add(
    found: dict[str, Recipient],
    rule: RecipientRule,
    manager_id: str,
    route: Route,
    payload: dict[str, Any],
    directory: TeamDirectory,
    default_channels: Sequence[Channel],
    actor: str | None,
) -> None:
    manager = directory.manager(manager_id)
    if manager is None or not manager.active or manager.id in found:
        return
    if route.skip_actor and actor == f"manager:{manager.id}":
        return
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
