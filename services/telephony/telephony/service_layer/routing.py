"""Answering a PBX's "who takes this call?" (domain/routing.py): the candidates are the
provider's extensions whose managers are active and on duty now (in the line's department when
the line names one); the caller's lead owner comes first; the line's rotation is kept in the
database with a version guard, so two service instances never hand out the same turn."""

from __future__ import annotations

import logging
from datetime import timedelta

from crmhub.contacts import normalize_phone
from crmhub.timers import Timer
from crmhub.working_time import is_on_duty, workplace_of
from telephony.adapters.formats.common import RouteAsk
from telephony.adapters.provider_api import CommandFailed
from telephony.adapters.providers import Provider
from telephony.domain.call import merge
from telephony.domain.routing import Candidate, LineRotation, Route
from telephony.service_layer.calls import call_id_for
from telephony.service_layer.context import Telephony

log = logging.getLogger("telephony.routing")


def candidates(deps: Telephony, provider: Provider, line: str | None) -> list[Candidate]:
    now = deps.now()
    config = provider.lines.get(line or "")
    wanted = config.department_id if config else None
    found = []
    for extension, manager_id in provider.extensions.items():
        manager = deps.directory.manager(manager_id)
        department = deps.directory.department(manager.department_id) if manager else None
        if manager is None or department is None or not manager.active:
            continue
        if wanted and manager.department_id != wanted:
            continue
        if is_on_duty(manager, workplace_of(department), now):
            found.append(Candidate(manager_id, extension))
    return found


async def route_call(deps: Telephony, provider: Provider, ask: RouteAsk) -> Route:
    number = normalize_phone(ask.caller or "", provider.phone_region) if ask.caller else None
    owner = await deps.store.owners.get(number) if number else None
    line = normalize_phone(ask.line, provider.phone_region) or ask.line if ask.line else None
    pool = candidates(deps, provider, ask.line)
    follow = provider.format == "mango" and ask.command_call_id is not None
    then_at = deps.now() + timedelta(seconds=provider.answer_standard_seconds) if follow else None
    then = {"provider_id": provider.id, "command_call_id": ask.command_call_id or "", "call_id": ask.call_id}
    chosen: list[Route] = []

    def choose(rotation: LineRotation) -> None:
        chosen.append(
            rotation.route(ask.call_id, pool, owner=owner.owner if owner else None, then_at=then_at, then=then)
        )

    rotation_id = f"{provider.id}:{line or '-'}"
    await deps.store.rotations.change(rotation_id, choose, create=lambda: LineRotation(id=rotation_id))
    return chosen[-1]


async def answer_pbx(deps: Telephony, provider: Provider, ask: RouteAsk) -> dict[str, object]:
    """A call start the PBX wants routed, answered the provider's way: Zadarma takes the route in
    its NOTIFY_START answer (after `return_timeout` unanswered the call goes back to its
    scenario); Mango is commanded (now, and the next one on a timer). What to add to the answer."""
    route = await route_call(deps, provider, ask)
    if provider.format == "zadarma" and route.extension:
        return {"redirect": route.extension, "return_timeout": int(provider.answer_standard_seconds)}
    if provider.format == "mango":
        await command_route(deps, provider, ask, route)
    return {}


async def command_route(deps: Telephony, provider: Provider, ask: RouteAsk, route: Route) -> None:
    """Mango: the hub sends the call on itself (its routing is a command, not an answer)."""
    if route.extension is None or ask.command_call_id is None:
        return
    try:
        await deps.provider_api.route(
            provider, call_id=ask.command_call_id, extension=route.extension, command_id=f"route-{ask.call_id}"
        )
    except CommandFailed as exc:
        log.warning("could not route call %s: %s", ask.call_id, exc)  # the PBX's own scenario goes on


async def route_next(deps: Telephony, timer: Timer) -> None:
    """Three rings and nobody answered: send the call to the next manager, unless it was answered or ended."""
    payload = timer.payload
    provider = deps.providers.by_id(str(payload.get("provider_id")))
    if provider is None:
        return
    call = await deps.store.calls.get(call_id_for(provider.id, str(payload.get("call_id"))))
    if call is not None and call.facts:
        merged = merge(call.facts)
        if merged.answered_at is not None or merged.ended_at is not None:
            return
    if not payload.get("command_call_id") or not payload.get("extension"):
        return
    try:
        await deps.provider_api.route(
            provider,
            call_id=str(payload["command_call_id"]),
            extension=str(payload["extension"]),
            command_id=f"route-next-{payload.get('call_id')}",
        )
    except CommandFailed as exc:  # a later try would come after the caller gave up: the PBX's scenario goes on
        log.warning("could not send call %s on to the next manager: %s", payload.get("call_id"), exc)
