from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crmhub.schemas.team import Department
from notifier.adapters.routing_file import SHIPPED_ROUTES
from notifier.adapters.templates import Templates
from notifier.domain.delivery import BrokenTemplate
from notifier.domain.routing import not_before, recipients_for
from support.team import directory, manager

ROUTES = {r.event_type: r for r in reversed(SHIPPED_ROUTES)}  # the first route of a type wins
TEAM = directory(
    manager(
        "anna", telegram_chat_id="1001", language="en", notifications={"channels": ["telegram", "email", "webhook"]}
    ),
    manager("olga", notifications={"quiet_hours": {"start": "22:00", "end": "08:00"}}),
    manager("gone", active=False),
    departments=(Department(id="sales", name="S", region="M", timezone="Europe/Moscow", head_manager_id="olga"),),
)


def test_an_sla_breach_reaches_the_manager_and_the_head_with_their_own_channels_and_language():
    payload = {"manager_id": "anna", "head_manager_id": "olga", "lead": {}}
    found = recipients_for(ROUTES["lead.sla_breached"], payload, TEAM, default_channels=("inbox", "log"))
    assert [(r.manager_id, r.role, r.language, r.channels) for r in found] == [
        ("anna", "manager", "en", ("telegram", "email")),
        ("olga", "head", "ru", ("inbox", "log")),
    ]


def test_the_head_of_a_calls_manager_comes_from_the_directory():
    found = recipients_for(
        ROUTES["call.callback_overdue"], {"call": {"manager_id": "anna"}}, TEAM, default_channels=("inbox",)
    )
    assert [r.manager_id for r in found] == ["anna", "olga"]


def test_nobody_or_inactive_recipients_get_nothing():
    assert recipients_for(ROUTES["lead.assigned"], {"manager_id": "gone"}, TEAM, default_channels=("inbox",)) == []
    assert (
        recipients_for(ROUTES["call.missed"], {"call": {"manager_id": None}}, TEAM, default_channels=("inbox",)) == []
    )


def test_quiet_hours_hold_non_urgent_messages_until_morning_but_not_urgent_ones():
    olga = recipients_for(ROUTES["lead.assigned"], {"manager_id": "olga"}, TEAM, default_channels=("inbox",))[0]
    night = datetime(2026, 11, 26, 20, 30, tzinfo=UTC)  # 23:30 in Moscow
    assert not_before(olga, urgent=False, now=night) == datetime(2026, 11, 27, 5, 0, tzinfo=UTC)  # 08:00 Moscow
    assert not_before(olga, urgent=True, now=night) is None
    assert not_before(olga, urgent=False, now=datetime(2026, 11, 26, 9, 0, tzinfo=UTC)) is None


LEAD = {
    "lead": {
        "lead_id": "L1",
        "source_id": "site",
        "contact": {"name": None, "phone": "+79160000001", "email": None},
        "product": None,
        "message": None,
    },
    "sla_deadline": "2026-11-26T09:15:00Z",
}


def test_templates_render_in_the_recipients_language_and_time_zone():
    templates = Templates()
    ru = templates.render("lead_assigned", "ru", LEAD, timezone="Europe/Moscow")
    en = templates.render("lead_assigned", "en", LEAD, timezone="Asia/Novosibirsk")
    assert ru.subject == "Новая заявка: +79160000001"
    assert "до 26.11.2026 12:15" in ru.text
    assert "before 26.11.2026 16:15" in en.text


def test_a_missing_translation_falls_back_to_russian(tmp_path):
    (tmp_path / "ru").mkdir()
    (tmp_path / "ru" / "only_ru.txt").write_text("Тема\nТекст {{ x }}")
    assert Templates(tmp_path).render("only_ru", "en", {"x": 1}).text == "Текст 1"


def test_a_template_that_cannot_render_is_refused_loudly():
    with pytest.raises(BrokenTemplate, match="lead_assigned"):
        Templates().render("lead_assigned", "ru", {"lead": {"lead_id": "L1"}})
