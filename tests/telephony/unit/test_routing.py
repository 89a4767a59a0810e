"""Who takes a call (seed §2.12): the lead's owner first, else a fair rotation; the next one
after three rings; the same call asked about twice gets the same answer."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from crmhub.schemas.leads import LeadAssigned, LeadContact, LeadSummary
from support.clock import Clock
from support.memory import MemoryCallStore
from support.team import directory, manager
from telephony.adapters.formats.common import RouteAsk
from telephony.adapters.providers import ProvidersConfig
from telephony.bootstrap import bootstrap
from telephony.domain.routing import Candidate, LineRotation, decide
from telephony.service_layer import callbacks, routing

PEOPLE = [Candidate("anna", "101"), Candidate("boris", "102"), Candidate("vera", "103"), Candidate("gleb", "104")]


@given(st.lists(st.tuples(st.integers(0, 3), st.booleans()), min_size=1, max_size=200), st.integers(1, 4))
def test_the_rotation_is_fair_and_owner_calls_do_not_move_it(calls, size):
    people = PEOPLE[:size]
    rotation = LineRotation(id="p:l")
    rotated: Counter[str] = Counter()
    for n, (owner_index, owner_known) in enumerate(calls):
        owner = people[owner_index % size].manager_id if owner_known else None
        route = rotation.route(f"call-{n}", people, owner=owner)
        assert route.manager_id is not None
        assert route.next_manager_id != route.manager_id or size == 1
        if owner is not None:
            assert (route.manager_id, route.reason) == (owner, "owner")
        else:
            rotated[route.manager_id] += 1
    if rotated:
        counts = [rotated[p.manager_id] for p in people]
        assert max(counts) - min(counts) <= 1


def test_the_same_call_asked_again_gets_the_same_answer_and_turns_nothing():
    rotation = LineRotation(id="p:l")
    first = rotation.route("c1", PEOPLE, owner=None)
    again = rotation.route("c1", PEOPLE, owner=None)
    after = rotation.route("c2", PEOPLE, owner=None)
    assert first == again
    assert (first.extension, first.next_extension, after.extension) == ("101", "102", "102")


def test_nobody_on_duty_is_said_so():
    route, cursor = decide([], owner="anna", cursor="101")
    assert (route.manager_id, route.reason, cursor) == (None, "nobody_on_duty", "101")


PROVIDERS = ProvidersConfig.model_validate(
    {
        "providers": [
            {
                "id": "pbx",
                "format": "json",
                "secret": "k" * 16,
                "extensions": {"101": "anna", "102": "boris", "103": "night"},
                "lines": {"+74951110000": {"department_id": "sales"}},
            }
        ]
    }
)


async def test_the_callers_lead_owner_first_and_only_people_on_duty():
    clock = Clock(datetime(2026, 11, 26, 9, 0, tzinfo=UTC))
    night = manager("night", working_hours={"mon": [{"start": "00:00", "end": "01:00"}]})
    deps = bootstrap(
        store=MemoryCallStore(),
        directory=directory(manager("anna"), manager("boris"), night),
        providers=PROVIDERS,
        now=clock,
    )
    provider = PROVIDERS.by_id("pbx")
    assert [c.manager_id for c in routing.candidates(deps, provider, "+74951110000")] == ["anna", "boris"]
    lead = LeadSummary(lead_id="L1", source_id="site", contact=LeadContact(phone="+79165554433"))
    assigned = LeadAssigned(
        lead=lead,
        manager_id="boris",
        department_id="sales",
        reason="new_lead",
        assigned_at=clock.now,
        sla_deadline=None,
    )
    await callbacks.on_lead_assigned(deps, None, assigned)  # type: ignore[arg-type]
    known = await routing.route_call(deps, provider, RouteAsk("c1", "8 916 555-44-33", "+74951110000"))
    stranger = await routing.route_call(deps, provider, RouteAsk("c2", "+79160000000", "+74951110000"))
    assert (known.manager_id, known.reason, known.next_manager_id) == ("boris", "owner", "anna")
    assert (stranger.manager_id, stranger.reason) == ("anna", "rotation")
