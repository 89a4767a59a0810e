"""Lead figures from lead rows: each lead counted once per grouping, under where it is now."""

from __future__ import annotations

from leads.domain.stats import lead_figures


def lead(source, manager, status, *, campaign=None, taken=False, within=False, breaches=0):
    return {
        "source_id": source,
        "manager_id": manager,
        "utm": {"campaign": campaign} if campaign else {},
        "status": status,
        "taken_at": "2026-11-27T10:00:00Z" if taken else None,
        "taken_within_sla": within if taken else None,
        "sla_breaches": breaches,
    }


LEADS = [
    lead("site", None, "new"),
    lead("site", "anna", "assigned", campaign="spring", breaches=2),
    lead("site", "anna", "in_work", campaign="spring", taken=True, within=True),
    lead("site", "boris", "converted", taken=True, within=False, breaches=1),
    lead("phone", "boris", "rejected", campaign="spring"),
    lead("phone", None, "rejected"),
]


def test_figures_per_source_manager_and_campaign():
    by_source = {f.key: f.as_dict() for f in lead_figures(LEADS, "source")}
    assert by_source["site"] | {"key": None} == {
        "key": None,
        "leads": 4,
        "taken": 2,
        "taken_within_sla": 1,
        "sla_breaches": 3,
        "converted": 1,
        "rejected": 0,
        "open": 3,
        "taken_within_sla_share": 0.5,
    }
    assert (by_source["phone"]["leads"], by_source["phone"]["rejected"], by_source["phone"]["open"]) == (2, 2, 0)
    assert by_source["phone"]["taken_within_sla_share"] is None  # nothing taken: no share, not 0
    managers = [(f.key, f.leads, f.open, f.sla_breaches) for f in lead_figures(LEADS, "manager")]
    assert managers == [("anna", 2, 2, 2), ("boris", 2, 0, 1), (None, 2, 1, 0)]  # unassigned last
    campaigns = [(f.key, f.leads) for f in lead_figures(LEADS, "campaign")]
    assert campaigns == [("spring", 3), (None, 3)]
