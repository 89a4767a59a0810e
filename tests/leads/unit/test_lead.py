from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crmhub.schemas.leads import LeadAssigned, LeadCreated, LeadDuplicate, LeadTaken
from leads.adapters.formats.canonical import LeadInput
from leads.domain.lead import Lead, LeadConflict
from leads.domain.submission import normalize

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _submission(**fields):
    return normalize(
        LeadInput.model_validate({"phone": "+79120000000", **fields}),
        source_id="site",
        channel="api",
        received_at=NOW,
        phone_region="RU",
    )


def _after(lead, action):
    """The events `action` recorded on the lead."""
    before = len(lead.events)
    action()
    return lead.events[before:]


def _assigned():
    lead = Lead.new("L1", _submission(name="Пётр"))
    lead.assign(
        manager_id="anna", department_id="sales", now=NOW, sla_deadline=NOW + timedelta(minutes=15), reason="new_lead"
    )
    return lead


def test_a_new_lead_announces_itself_with_its_summary():
    lead = Lead.new("L1", _submission(name="Пётр", utm={"campaign": "autumn"}))
    events = lead.events
    assert lead.status == "new"
    payload = events[0].payload()
    assert isinstance(payload, LeadCreated)
    assert payload.lead.contact.phone == "+79120000000"
    assert payload.lead.utm.campaign == "autumn"
    assert events[0].subject == "L1"


def test_a_touch_is_recorded_once_and_fills_missing_contacts():
    lead = Lead.new("L1", _submission())
    events = _after(
        lead, lambda: lead.add_touch("T1", _submission(email="petr@example.com", message="again"), matched_by="phone")
    )
    assert isinstance(events[0].payload(), LeadDuplicate)
    assert lead.touch_count == 2
    assert lead.contact.email == "petr@example.com"
    assert _after(lead, lambda: lead.add_touch("T1", _submission(), matched_by="phone")) == []
    assert lead.touch_count == 2


def test_take_within_sla_and_only_by_the_assigned_manager():
    lead = _assigned()
    with pytest.raises(LeadConflict, match="assigned to anna"):
        lead.take("boris", now=NOW)
    events = _after(lead, lambda: lead.take("anna", now=NOW + timedelta(minutes=5)))
    taken = events[0].payload()
    assert isinstance(taken, LeadTaken)
    assert taken.within_sla
    assert taken.response_seconds == 300
    assert _after(lead, lambda: lead.take("anna", now=NOW)) == []  # taking again is harmless


def test_taking_late_is_recorded_as_outside_sla():
    lead = _assigned()
    lead.take("anna", now=NOW + timedelta(minutes=16))
    assert lead.taken_within_sla is False


def test_conversion_needs_the_lead_in_work_and_closes_it():
    lead = _assigned()
    with pytest.raises(LeadConflict, match="take it into work"):
        lead.convert(manager_id="anna", now=NOW, comment=None)
    lead.take("anna", now=NOW)
    converted = _after(lead, lambda: lead.convert(manager_id="anna", now=NOW, comment="замер в пятницу"))[0].payload()
    assert converted.lead.contact.phone == "+79120000000"
    assert converted.comment == "замер в пятницу"
    assert lead.status == "converted"
    with pytest.raises(LeadConflict):
        lead.reject(reason="other", comment=None, now=NOW)


def test_sla_breach_counts_and_reassignment_keeps_history():
    lead = _assigned()
    breached = _after(lead, lambda: lead.breach_sla(now=NOW + timedelta(minutes=16), head_manager_id="olga"))[
        0
    ].payload()
    assert breached.breach_number == 1
    assert breached.head_manager_id == "olga"
    reassigned = _after(
        lead,
        lambda: lead.assign(
            manager_id="boris", department_id="sales", now=NOW, sla_deadline=None, reason="sla_escalation"
        ),
    )[0].payload()
    assert isinstance(reassigned, LeadAssigned)
    assert reassigned.previous_manager_id == "anna"
    assert [a.manager_id for a in lead.assignments] == ["anna", "boris"]


def test_a_lead_taken_after_an_escalation_was_not_answered_within_sla():
    lead = _assigned()
    lead.breach_sla(now=NOW + timedelta(minutes=16), head_manager_id="olga")
    lead.assign(
        manager_id="boris",
        department_id="sales",
        now=NOW + timedelta(minutes=16),
        sla_deadline=NOW + timedelta(minutes=31),
        reason="sla_escalation",
    )
    assert _after(lead, lambda: lead.take("boris", now=NOW + timedelta(minutes=17)))[0].payload().within_sla is False


def test_an_assigned_lead_asks_for_its_sla_timer_and_taking_it_cancels_the_timer():
    from crmhub.aggregate import Cancel, Schedule

    lead = _assigned()
    assert Schedule("lead.sla:L1", "lead.sla", NOW + timedelta(minutes=15), {"aggregate": "L1"}) in lead.timer_changes
    lead.take("anna", now=NOW)
    assert lead.timer_changes[-2:] == [Cancel("lead.sla:L1"), Cancel("lead.assign:L1")]


def test_a_lead_nobody_can_take_asks_to_be_offered_again_at_the_next_shift():
    from crmhub.aggregate import Schedule

    lead = Lead.new("L2", _submission())
    lead.wait_until(NOW + timedelta(hours=12))
    assert lead.timer_changes == [
        Schedule("lead.assign:L2", "lead.assign", NOW + timedelta(hours=12), {"aggregate": "L2"})
    ]
    assert lead.assign_after == NOW + timedelta(hours=12)
