"""The notifier's use cases in memory, through its own wiring (`bootstrap`): an event becomes one
delivery per recipient and channel with its send timer; firing sends it once; a failing channel
is retried with backoff and then recorded as failed; a burst goes out as one digest."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from pymongo.errors import AutoReconnect

from crmhub.events import new_event
from crmhub.schemas.leads import LeadAssigned, LeadContact, LeadSummary
from notifier.adapters.channels import DeliveryError, Outgoing
from notifier.adapters.templates import Templates
from notifier.bootstrap import bootstrap
from notifier.domain.delivery import Policy
from notifier.service_layer.dispatch import send
from notifier.service_layer.events import on_event
from support.clock import Clock
from support.memory import MemoryDeliveryStore
from support.team import directory, manager


class Channel:
    """Records what was sent; fails the next `failures` sends."""

    def __init__(self) -> None:
        self.sent: list[Outgoing] = []
        self.failures = 0

    async def send(self, channel: str, message: Outgoing) -> None:
        if self.failures:
            self.failures -= 1
            raise DeliveryError("SMTP: connection refused", retryable=True)
        self.sent.append(message)


@pytest.fixture
def notifier():
    clock, channel, store = Clock(), Channel(), MemoryDeliveryStore()
    deps = bootstrap(
        store=store,
        directory=directory(manager("anna", notifications={"channels": ["email"]})),
        channels=channel,
        templates=Templates(),
        policy=Policy(max_attempts=3, backoff_seconds=2, burst_limit=2, burst_window=timedelta(minutes=1)),
        now=clock,
    )
    return deps, store, channel, clock


def _assigned(lead_id: str, at: datetime):
    summary = LeadSummary(lead_id=lead_id, source_id="site", contact=LeadContact(name="Пётр", phone="+79120000000"))
    data = LeadAssigned(
        lead=summary,
        manager_id="anna",
        department_id="sales",
        reason="new_lead",
        assigned_at=at,
        sla_deadline=at + timedelta(minutes=15),
    )
    return new_event(data, source="/crm/leads", subject=lead_id, time=at), data


async def _fire_due(deps, store, clock) -> None:
    for timer in store.timers.due_now(clock.now):
        await send(deps, timer)
        if store.timers.pending.get(timer.key) == timer:  # the runner removes a fired timer unless it was moved
            del store.timers.pending[timer.key]


async def test_an_event_is_sent_once_however_often_it_arrives_or_its_timer_fires(notifier):
    deps, store, channel, clock = notifier
    event, data = _assigned("L1", clock.now)
    await on_event(deps, event, data)
    await on_event(deps, event, data)  # redelivered
    (timer,) = store.timers.due_now(clock.now)
    await send(deps, timer)
    await send(deps, timer)  # fired again after a crash
    assert len(channel.sent) == 1
    assert channel.sent[0].email == "anna@example.com"
    assert [e["type"] for e in store.deliveries.published()] == ["notification.delivered"]


async def test_a_failing_channel_is_retried_with_backoff_then_recorded_as_failed(notifier):
    deps, store, channel, clock = notifier
    channel.failures = 10
    event, data = _assigned("L2", clock.now)
    await on_event(deps, event, data)
    await _fire_due(deps, store, clock)
    (delivery,) = await store.deliveries.find({})
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == (
        "pending",
        1,
        clock.now + timedelta(seconds=2),
    )
    clock.now += timedelta(seconds=2)
    await _fire_due(deps, store, clock)
    clock.now += timedelta(seconds=4)
    await _fire_due(deps, store, clock)
    (delivery,) = await store.deliveries.find({})
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert [e["type"] for e in store.deliveries.published()] == ["notification.failed"]
    assert store.timers.pending == {}


async def test_a_burst_to_one_person_goes_out_as_one_digest_at_the_end_of_the_window(notifier):
    deps, store, channel, clock = notifier
    for n in range(4):
        await on_event(deps, *_assigned(f"L-burst-{n}", clock.now))
    await _fire_due(deps, store, clock)
    assert len(channel.sent) == 2  # the burst limit
    clock.now += timedelta(minutes=1)
    await _fire_due(deps, store, clock)
    assert len(channel.sent) == 3
    assert channel.sent[-1].subject.startswith("2 notifications")
    assert {d.status for d in await store.deliveries.find({})} == {"delivered"}


async def test_with_the_burst_limit_off_every_message_goes_alone_and_nothing_is_counted(notifier):
    deps, store, channel, clock = notifier
    deps.policy = Policy(max_attempts=3, backoff_seconds=2, burst_limit=0, burst_window=timedelta(minutes=1))
    counted: list[str] = []

    async def recent_count(recipient: str, channel: str, since: datetime) -> int:
        counted.append(recipient)
        return 0

    store.recent_count = recent_count  # type: ignore[method-assign]
    for n in range(6):
        await on_event(deps, *_assigned(f"L-free-{n}", clock.now))
    await _fire_due(deps, store, clock)
    assert [m.subject.startswith("2 notifications") for m in channel.sent] == [False] * 6
    assert counted == []  # no round trip for a limit that is not there


async def test_a_password_reset_link_goes_by_e_mail_only_never_to_the_inbox_log_or_webhooks(notifier):
    from crmhub.schemas.accounts import PasswordResetRequested
    from notifier.service_layer.context import WebhookEndpoint, WebhookRegistry

    deps, store, channel, clock = notifier
    deps.default_channels = ("inbox", "log", "email")
    endpoint = WebhookEndpoint("all", "http://127.0.0.1:9/hook", ("s" * 16,), ("*",))
    deps.webhooks = WebhookRegistry(None, from_file=[endpoint], now=clock)
    data = PasswordResetRequested(
        manager_id="anna", link="http://hub/v1/auth/links/secret-token", expires_at=clock.now + timedelta(minutes=30)
    )
    await on_event(deps, new_event(data, source="/crm/motivation", subject="manager:anna", time=clock.now), data)
    assert {(d.channel, d.recipient) for d in await store.deliveries.find({})} == {("email", "anna")}
    await _fire_due(deps, store, clock)
    assert [m.email for m in channel.sent] == ["anna@example.com"]
    assert "secret-token" in channel.sent[0].text


async def test_a_new_address_is_asked_to_confirm_there_and_nowhere_else(notifier):
    from crmhub.schemas.accounts import AddressConfirmationRequested

    deps, store, channel, clock = notifier
    data = AddressConfirmationRequested(
        manager_id="anna",
        channel="email",
        address="anna.new@example.com",
        link="http://hub/v1/auth/links/t",
        expires_at=clock.now + timedelta(minutes=30),
    )
    await on_event(deps, new_event(data, source="/crm/motivation", subject="manager:anna", time=clock.now), data)
    await _fire_due(deps, store, clock)
    assert [m.email for m in channel.sent] == ["anna.new@example.com"]


async def test_a_message_sent_while_the_database_goes_away_is_recorded_when_it_returns_not_sent_again(notifier):
    deps, store, channel, clock = notifier
    event, data = _assigned("L-outage", clock.now)
    await on_event(deps, event, data)
    change, failures = store.deliveries.change, [2]

    async def database_down_for_a_moment(*args, **kwargs):
        if failures[0]:
            failures[0] -= 1
            raise AutoReconnect("connection refused")
        return await change(*args, **kwargs)

    store.deliveries.change = database_down_for_a_moment
    (timer,) = store.timers.due_now(clock.now)
    await send(deps, timer)
    store.deliveries.change = change
    await send(deps, timer)  # had the timer fired again, nothing more would go out
    assert len(channel.sent) == 1
    assert [d.status for d in await store.deliveries.find({})] == ["delivered"]


async def test_a_digest_whose_sender_died_goes_out_with_the_next_digest_once_its_lease_runs_out(notifier):
    deps, store, channel, clock = notifier
    for n in range(4):
        await on_event(deps, *_assigned(f"L-orphan-{n}", clock.now))
    await _fire_due(deps, store, clock)  # two at once (the burst limit), two held for a digest
    clock.now += timedelta(minutes=1)
    send_for_real = channel.send

    async def dies_while_sending(channel_name, message):
        raise RuntimeError("the process was killed here")

    channel.send = dies_while_sending
    with pytest.raises(RuntimeError):
        await _fire_due(deps, store, clock)  # the digest sender claims both held messages, then dies
    channel.send = send_for_real
    assert {d.status for d in await store.deliveries.find({"digest": True})} == {"sending"}
    for _ in range(5):  # its lease runs out; the timers fire
        clock.now += timedelta(seconds=31)
        await _fire_due(deps, store, clock)
    assert len(channel.sent) == 3
    assert channel.sent[-1].subject.startswith("2 notifications")
    assert {d.status for d in await store.deliveries.find({})} == {"delivered"}


async def test_a_recipients_messages_fall_due_in_the_order_their_events_happened(notifier):
    """Received out of order (events of different leads travel on different partitions), they
    are sent in the order of their events, one after another: the timers of one recipient's
    sequence on a channel fire that way."""
    deps, store, channel, clock = notifier
    later = _assigned("L-later", clock.now - timedelta(seconds=1))
    earlier = _assigned("L-earlier", clock.now - timedelta(seconds=5))
    for event, data in (later, earlier):
        await on_event(deps, event, data)
    due = store.timers.due_now(clock.now)
    assert [t.payload["aggregate"] for t in due] == [f"{earlier[0].id}:anna:email", f"{later[0].id}:anna:email"]
    assert {t.payload["in_order_of"] for t in due} == {"anna|email"}
    await _fire_due(deps, store, clock)
    assert ["L-earlier" in m.text for m in channel.sent] == [True, False]


async def test_an_event_stamped_ahead_of_the_clock_is_not_held_back(notifier):
    deps, store, _, clock = notifier
    event, data = _assigned("L-ahead", clock.now + timedelta(minutes=5))  # its service's clock runs fast
    await on_event(deps, event, data)
    assert [t.due_at for t in store.timers.due_now(clock.now)] == [clock.now]
