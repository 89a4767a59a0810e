"""The notifier end to end: events on crm.leads -> the right people, on their channels, once;
retries honour the channel; failures are visible; quiet hours and bursts; a restart loses and
duplicates nothing. SMTP and the Telegram/webhook peers are real local servers."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest

from crmhub.events import new_event, to_record
from crmhub.schemas.leads import LeadAssigned, LeadContact, LeadConverted, LeadRejected, LeadSlaBreached, LeadSummary
from crmhub.schemas.team import Department, DepartmentUpserted, Manager, ManagerUpserted
from crmhub.team_directory import department_key, manager_key
from localservers import RunningServer, free_port, start_service
from support.fakes import Answer, FakeHttp, SmtpSink
from support.kafka import eventually, headers_of, produce, read_topic
from support.team import ALL_WEEK
from support.tokens import admin_headers, person_headers

pytestmark = pytest.mark.integration
TOKEN = "123456:test-token"
SECRET = "webhook-secret-0123"


class Notifier:
    def __init__(self, infra, workdir) -> None:
        self.infra = infra
        self.workdir = workdir
        self.u = uuid.uuid4().hex[:8]
        self.smtp = SmtpSink().start()
        self.peer = FakeHttp().start()
        self.server: RunningServer | None = None

    def people(self) -> dict[str, Manager]:
        moscow = datetime.now(UTC).astimezone(ZoneInfo("Europe/Moscow"))
        quiet = {
            "start": (moscow - timedelta(hours=1)).strftime("%H:00"),
            "end": (moscow + timedelta(hours=2)).strftime("%H:00"),
        }
        base = {"department_id": f"d-{self.u}", "working_hours": ALL_WEEK}
        specs = {
            "mail": {},
            "tg": {"telegram_chat_id": "555001", "notifications": {"channels": ["telegram"]}},
            "quiet": {"notifications": {"channels": ["email"], "quiet_hours": quiet}},
            "burst": {},
            "restart": {},
            "reader": {},
            "head": {"language": "en"},
        }
        return {
            role: Manager.model_validate(
                {"id": f"{role}-{self.u}", "name": role, "email": f"{role}.{self.u}@example.com", **base, **extra}
            )
            for role, extra in specs.items()
        }

    async def start(self) -> Notifier:
        people = self.people()
        department = Department(id=f"d-{self.u}", name="D", region="Moscow", head_manager_id=people["head"].id)
        messages = [
            self._team(
                DepartmentUpserted(change="created", version=1, department=department), department_key(department.id)
            )
        ]
        messages += [
            self._team(ManagerUpserted(change="created", version=1, manager=m), manager_key(m.id))
            for m in people.values()
        ]
        await produce(self.infra.kafka, "crm.team", messages)
        webhooks = [
            {
                "id": f"ok-{self.u}",
                "url": f"{self.peer.url}/ok-{self.u}",
                "secret": SECRET,
                "event_types": ["lead.converted"],
            },
            {
                "id": f"bad-{self.u}",
                "url": f"{self.peer.url}/bad-{self.u}",
                "secret": SECRET,
                "event_types": ["lead.rejected"],
            },
        ]
        (self.workdir / "webhooks.json").write_text(json.dumps(webhooks))
        self.env = {
            "KAFKA_BOOTSTRAP_SERVERS": self.infra.kafka,
            "MONGODB_URL": self.infra.mongo,
            "NOTIFIER_MONGODB_DATABASE": f"t_notifier_{self.u}",
            "NOTIFIER_SMTP_HOST": "127.0.0.1",
            "NOTIFIER_SMTP_PORT": str(self.smtp.port),
            "NOTIFIER_TELEGRAM_BASE_URL": self.peer.url,
            "NOTIFIER_TELEGRAM_TOKEN": TOKEN,
            "NOTIFIER_WEBHOOKS_FILE": str(self.workdir / "webhooks.json"),
            "NOTIFIER_DEFAULT_CHANNELS": "email,inbox",
            "NOTIFIER_MAX_ATTEMPTS": "3",
            "NOTIFIER_BACKOFF_SECONDS": "0.2",
            "NOTIFIER_BURST_LIMIT": "3",
            "NOTIFIER_BURST_WINDOW_SECONDS": "3",
            "NOTIFIER_OUTBOX_POLL_SECONDS": "0.2",
            "NOTIFIER_WEBHOOK_SIGNING_KEY": "signing-key-0123456789abcdef",
            "NOTIFIER_ENVIRONMENT": "test",  # the fake peers speak plain http
        }
        self.start_process()
        return self

    def start_process(self) -> None:
        self.server = start_service(
            "notifier",
            env=self.env,
            port=free_port(),
            log_path=self.workdir / f"notifier-{time.monotonic_ns()}.log",
            python=sys.executable,
        )
        deadline = time.monotonic() + 30
        while httpx.get(f"{self.server.address}/ready", timeout=5).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)

    @staticmethod
    def _team(data, key: str):
        record = to_record(new_event(data, source="/crm/motivation", subject=key))
        return record.key, record.value, record.headers

    def stop(self) -> None:
        if self.server:
            self.server.stop()
        self.smtp.stop()
        self.peer.stop()

    def lead(self, manager: str, *, phone: str = "+79160000001"):
        return LeadSummary(
            lead_id=f"L-{uuid.uuid4().hex[:8]}",
            source_id="site",
            contact=LeadContact(name="Клиент", phone=phone),
            product="Кухня",
        )

    async def send(self, *payloads, repeat: int = 1):
        records = [
            to_record(new_event(p, source="/crm/leads", subject=p.lead.lead_id if hasattr(p, "lead") else p.lead_id))
            for p in payloads
        ]
        await produce(self.infra.kafka, "crm.leads", [(r.key, r.value, r.headers) for r in records] * repeat)
        return records

    def assigned(self, role: str, **extra) -> LeadAssigned:
        now = datetime.now(UTC)
        return LeadAssigned(
            lead=self.lead(role),
            manager_id=f"{role}-{self.u}",
            department_id=f"d-{self.u}",
            reason="new_lead",
            assigned_at=now,
            sla_deadline=now + timedelta(minutes=15),
            **extra,
        )

    async def notifications(self, **params) -> list[dict]:
        async with httpx.AsyncClient(base_url=self.server.address, timeout=10, headers=admin_headers()) as http:
            return (await http.get("/v1/notifications", params={"limit": 500, **params})).json()["items"]


@pytest.fixture(scope="module")
def notifier(infra, tmp_path_factory):
    running = asyncio.run(Notifier(infra, tmp_path_factory.mktemp("notifier")).start())
    yield running
    running.stop()


async def test_a_lead_reaches_its_managers_mailbox_once_even_when_the_event_comes_twice(notifier):
    event = notifier.assigned("mail")
    await notifier.send(event, repeat=2)
    address = f"mail.{notifier.u}@example.com"
    await eventually(lambda: notifier.smtp.to(address), timeout=60)
    await eventually(lambda: _delivered_count(notifier, "inbox"), timeout=60)
    time.sleep(1.5)  # would a second copy arrive?
    mails = notifier.smtp.to(address)
    assert len(mails) == 1
    assert mails[0]["Subject"] == "Новая заявка: Клиент"
    body = mails[0].get_content()
    assert "+79160000001" in body
    assert "Кухня" in body
    sent = await notifier.notifications(recipient=f"mail-{notifier.u}")
    assert sorted((n["channel"], n["status"]) for n in sent) == [("email", "delivered"), ("inbox", "delivered")]
    records = await read_topic(
        notifier.infra.kafka,
        "crm.notifications",
        until=lambda rs: (
            sum(
                headers_of(r)["ce_type"] == "notification.delivered" and f"mail-{notifier.u}".encode() in r.value
                for r in rs
            )
            >= 2
        ),
    )
    assert records


async def _delivered_count(notifier, channel):
    return [
        n
        for n in await notifier.notifications(recipient=f"mail-{notifier.u}", channel=channel)
        if n["status"] == "delivered"
    ]


async def test_telegram_rate_limits_are_honoured_and_the_message_goes_once(notifier):
    path = f"/bot{TOKEN}/sendMessage"
    notifier.peer.script(
        path,
        Answer(
            429,
            {
                "ok": False,
                "error_code": 429,
                "description": "Too Many Requests: retry after 1",
                "parameters": {"retry_after": 1},
            },
        ),
    )
    await notifier.send(notifier.assigned("tg"))

    async def delivered():
        return [n for n in await notifier.notifications(recipient=f"tg-{notifier.u}") if n["status"] == "delivered"]

    await eventually(
        delivered, timeout=60
    )  # a bound for a loaded machine (a restarted consumer rejoins its group first)
    note = (await delivered())[0]
    assert note["attempts"] == 2
    calls = [s for s in notifier.peer.to(path) if s.json()["chat_id"] == "555001"]
    assert len(calls) == 2
    assert "Новая заявка" in calls[-1].json()["text"]


async def test_webhooks_are_signed_retried_on_5xx_and_failed_on_4xx_visibly(notifier):
    notifier.peer.script(f"/ok-{notifier.u}", Answer(503, {"error": "busy"}))
    notifier.peer.script(f"/bad-{notifier.u}", Answer(400, {"error": "no such hook"}))
    now = datetime.now(UTC)
    converted = LeadConverted(
        lead=notifier.lead("x"), manager_id=f"mail-{notifier.u}", department_id=None, converted_at=now, touches=1
    )
    rejected = LeadRejected(lead_id="L-rej", manager_id=None, source_id="site", reason="spam", rejected_at=now)
    await notifier.send(converted, rejected)

    async def outcomes():
        return {
            n["recipient"]: n
            for n in await notifier.notifications(channel="webhook")
            if n["status"] in ("delivered", "failed")
        }

    await eventually(lambda: _both(outcomes, notifier.u), timeout=60)
    found = await outcomes()
    ok, bad = found[f"webhook:ok-{notifier.u}"], found[f"webhook:bad-{notifier.u}"]
    assert (ok["status"], ok["attempts"]) == ("delivered", 2)
    assert (bad["status"], bad["attempts"]) == ("failed", 1)
    assert "400" in bad["last_error"]
    hook = notifier.peer.to(f"/ok-{notifier.u}")[-1]
    stamp, signature = (part.split("=", 1)[1] for part in hook.headers["x-signature"].split(","))
    assert signature == hmac.new(SECRET.encode(), f"{stamp}.".encode() + hook.body, hashlib.sha256).hexdigest()
    assert hook.json()["event_type"] == "lead.converted"
    assert hook.headers["idempotency-key"] == ok["id"]
    failures = await read_topic(
        notifier.infra.kafka,
        "crm.notifications",
        until=lambda rs: any(
            headers_of(r)["ce_type"] == "notification.failed" and bad["id"].encode() == r.key for r in rs
        ),
    )
    assert failures
    async with httpx.AsyncClient(base_url=notifier.server.address, timeout=10, headers=admin_headers()) as http:
        retried = await http.post(f"/v1/notifications/{bad['id']}/retry")
        assert retried.json()["status"] == "pending"
        assert (await http.post(f"/v1/notifications/{ok['id']}/retry")).status_code == 409

    async def redelivered():
        return (await outcomes()).get(f"webhook:bad-{notifier.u}", {}).get("status") == "delivered"

    await eventually(redelivered, timeout=60)


async def _both(outcomes, u):
    found = await outcomes()
    return f"webhook:ok-{u}" in found and f"webhook:bad-{u}" in found


async def test_quiet_hours_hold_routine_messages_but_let_urgent_ones_through(notifier):
    routine = notifier.assigned("quiet")
    now = datetime.now(UTC)
    urgent = LeadSlaBreached(
        lead=notifier.lead("quiet"),
        manager_id=f"quiet-{notifier.u}",
        department_id=f"d-{notifier.u}",
        head_manager_id=f"head-{notifier.u}",
        deadline=now,
        breached_at=now,
        breach_number=1,
    )
    await notifier.send(routine, urgent)
    address = f"quiet.{notifier.u}@example.com"
    await eventually(lambda: notifier.smtp.to(address), timeout=60)
    await eventually(lambda: notifier.smtp.to(f"head.{notifier.u}@example.com"), timeout=60)
    time.sleep(1)
    assert [m["Subject"] for m in notifier.smtp.to(address)] == [
        f"СРОЧНО: заявка {urgent.lead.lead_id} не взята вовремя"
    ]
    assert notifier.smtp.to(f"head.{notifier.u}@example.com")[0]["Subject"].startswith(
        "URGENT"
    )  # the head reads English
    held = [
        n
        for n in await notifier.notifications(recipient=f"quiet-{notifier.u}")
        if n["cause_event_type"] == "lead.assigned"
    ]
    assert held[0]["status"] == "pending"
    assert datetime.fromisoformat(held[0]["not_before"]) > datetime.now(UTC) + timedelta(minutes=30)


async def test_a_burst_to_one_person_is_folded_into_a_digest(notifier):
    events = [notifier.assigned("burst") for _ in range(5)]
    await notifier.send(*events)
    address = f"burst.{notifier.u}@example.com"
    await eventually(lambda: len(notifier.smtp.to(address)) >= 4, timeout=30)
    time.sleep(1)
    mails = notifier.smtp.to(address)
    assert len(mails) == 4
    digests = [m for m in mails if m["Subject"].startswith("2 notifications")]
    assert len(digests) == 1
    # which two were folded depends on partition order; every lead is in exactly one e-mail
    for event in events:
        assert sum(event.lead.lead_id in m.get_content() for m in mails) == 1


async def test_the_inbox_pages_newest_first_and_keeps_unread_apart_from_read(notifier):
    reader = f"reader-{notifier.u}"
    events = [notifier.assigned("reader") for _ in range(3)]
    for event in events:  # one at a time: their times order the inbox
        await notifier.send(event)
        await asyncio.sleep(0.05)
    async with httpx.AsyncClient(base_url=notifier.server.address, timeout=10, headers=person_headers(reader)) as http:

        async def inbox(**params) -> dict:
            return (await http.get(f"/v1/inbox/{reader}", params=params)).json()

        await eventually(lambda: _total(inbox(), 3), timeout=60)
        whole = await inbox()
        assert (await inbox(unread="true"))["total"] == 3
        newest_first = [m["id"] for m in whole["items"]]
        assert [m["created_at"] for m in whole["items"]] == sorted(
            (m["created_at"] for m in whole["items"]), reverse=True
        )
        assert [m["id"] for m in (await inbox(limit=2, offset=2))["items"]] == newest_first[2:]
        for _ in range(2):  # reading twice is reading once
            assert (await http.post(f"/v1/inbox/{reader}/{newest_first[1]}/read")).status_code in (200, 204)
        unread = await inbox(unread="true")
        assert (unread["total"], [m["id"] for m in unread["items"]]) == (2, [newest_first[0], newest_first[2]])
        assert (await inbox())["total"] == 3
        assert (await http.get(f"/v1/inbox/mail-{notifier.u}")).status_code == 403


async def _total(page, expected: int) -> bool:
    return (await page)["total"] == expected


async def test_restarting_the_notifier_midway_loses_and_duplicates_nothing(notifier):
    events = [notifier.assigned("restart") for _ in range(3)]
    await notifier.send(*events)
    notifier.server.stop()
    notifier.start_process()
    await notifier.send(*events)  # and the same events once more, as a redelivery would
    address = f"restart.{notifier.u}@example.com"
    await eventually(lambda: len(notifier.smtp.to(address)) >= 3, timeout=30)
    time.sleep(2)
    lead_ids = [e.lead.lead_id for e in events]
    received = [next(i for i in lead_ids if i in m.get_content()) for m in notifier.smtp.to(address)]
    assert sorted(received) == sorted(lead_ids)


async def test_a_webhook_429_is_retried_after_the_time_it_asks_for(notifier):
    notifier.peer.script(f"/ok-{notifier.u}", Answer(429, {"error": "slow down"}, {"Retry-After": "2"}))
    converted = LeadConverted(
        lead=notifier.lead("x"),
        manager_id=f"mail-{notifier.u}",
        department_id=None,
        converted_at=datetime.now(UTC),
        touches=1,
    )
    await notifier.send(converted)
    key = f"{converted.lead.lead_id}".encode()
    hooks = lambda: [s for s in notifier.peer.to(f"/ok-{notifier.u}") if key in s.body]  # noqa: E731

    await eventually(lambda: len(hooks()) >= 2, timeout=60)
    first, second = hooks()[:2]
    assert second.at - first.at >= 1.9  # it waited the Retry-After it was given, not its own shorter backoff
    assert second.json()["event_type"] == "lead.converted"
    delivered = [
        n
        for n in await notifier.notifications(channel="webhook", status="delivered")
        if n["cause_event_id"] == second.json()["event_id"]
    ]
    assert delivered[0]["attempts"] == 2
    assert delivered[0]["last_error"] is None


def _converted(notifier) -> LeadConverted:
    return LeadConverted(
        lead=notifier.lead("mail"),
        manager_id=f"mail-{notifier.u}",
        department_id=None,
        converted_at=datetime.now(UTC),
        touches=1,
    )


def _signed_by(seen, secret: str) -> bool:
    """Does one of the X-Signature's v1= values verify with this secret (t=…,v1=…[,v1=…])?"""
    parts = [part.split("=", 1) for part in seen.headers["x-signature"].split(",")]
    stamp = next(v for k, v in parts if k == "t")
    expected = hmac.new(secret.encode(), f"{stamp}.".encode() + seen.body, hashlib.sha256).hexdigest()
    return any(k == "v1" and hmac.compare_digest(v, expected) for k, v in parts)


async def test_webhook_subscriptions_are_managed_over_the_api(notifier):
    """Create (secret shown once, never again), deliver signed, pause, resume, rotate (both secrets
    sign for the grace), see the delivery log, delete; refuse what cannot be a subscription."""
    path = f"/sub-{notifier.u}"
    async with httpx.AsyncClient(base_url=notifier.server.address, timeout=10, headers=admin_headers()) as http:
        bad_url = await http.post("/v1/webhooks", json={"url": "ftp://x", "event_types": ["lead.converted"]})
        bad_type = await http.post(
            "/v1/webhooks",
            json={"url": f"{notifier.peer.url}{path}", "event_types": ["account.password_reset_requested"]},
        )
        created = await http.post(
            "/v1/webhooks",
            json={"url": f"{notifier.peer.url}{path}", "event_types": ["lead.converted"], "description": "ERP"},
        )
        assert created.status_code == 201, created.text
        sub = created.json()
        secret = sub.pop("secret")
        listed = (await http.get("/v1/webhooks")).json()
        shown = (await http.get(f"/v1/webhooks/{sub['id']}")).json()

        def converted() -> LeadConverted:
            return _converted(notifier)

        first = converted()
        await notifier.send(first)
        await eventually(lambda: notifier.peer.to(path), timeout=60)
        await http.patch(f"/v1/webhooks/{sub['id']}", json={"status": "paused"})
        handled = await _converted_handled(http)
        paused_event = converted()
        await notifier.send(paused_event)

        async def consumed() -> bool:  # the paused event was taken (and not queued) before resuming
            return await _converted_handled(http) > handled

        await eventually(consumed, timeout=30)
        await http.patch(f"/v1/webhooks/{sub['id']}", json={"status": "active"})
        rotated = (await http.post(f"/v1/webhooks/{sub['id']}/rotate-secret")).json()
        after = converted()
        await notifier.send(after)

        async def second_delivery():
            return len(notifier.peer.to(path)) >= 2

        await eventually(second_delivery, timeout=60)
        log = (await http.get(f"/v1/webhooks/{sub['id']}/deliveries")).json()
        deleted = await http.delete(f"/v1/webhooks/{sub['id']}")
        gone = await http.get(f"/v1/webhooks/{sub['id']}")
    assert (bad_url.status_code, bad_type.status_code) == (422, 422)
    assert bad_type.json()["field"] == "event_types"
    assert "secret" not in shown
    assert secret not in json.dumps(listed)
    assert secret not in json.dumps(shown)
    assert shown["status"] == "active"
    assert any(item["id"] == sub["id"] for item in listed["items"])
    one, two = notifier.peer.to(path)[:2]
    assert json.loads(one.body)["data"]["lead"]["lead_id"] == first.lead.lead_id
    assert _signed_by(one, secret)
    # paused: that event was never sent; after the rotation the next one is signed by both secrets
    assert json.loads(two.body)["data"]["lead"]["lead_id"] == after.lead.lead_id
    assert _signed_by(two, rotated["secret"])
    assert _signed_by(two, secret)
    assert rotated["secret"] != secret
    assert rotated["secret_version"] == 2
    assert [item["status"] for item in log["items"]] == ["delivered", "delivered"]
    assert (deleted.status_code, gone.status_code) == (204, 404)


async def _converted_handled(http: httpx.AsyncClient) -> float:
    """How many lead.converted events the notifier has handled (its /metrics)."""
    text = (await http.get("/metrics")).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("crmhub_events_consumed_total{")
        and 'type="lead.converted"' in line
        and 'outcome="handled"' in line
    )


async def test_a_new_subscription_gets_no_history(notifier):
    path = f"/late-{notifier.u}"
    earlier = _converted(notifier)
    await notifier.send(earlier)
    await asyncio.sleep(0.5)
    async with httpx.AsyncClient(base_url=notifier.server.address, timeout=10, headers=admin_headers()) as http:
        created = (
            await http.post("/v1/webhooks", json={"url": f"{notifier.peer.url}{path}", "event_types": ["*"]})
        ).json()
        later = _converted(notifier)
        await notifier.send(later)
        await eventually(lambda: notifier.peer.to(path), timeout=60)
        await http.delete(f"/v1/webhooks/{created['id']}")
    sent = [json.loads(seen.body)["data"]["lead"]["lead_id"] for seen in notifier.peer.to(path)]
    assert later.lead.lead_id in sent
    assert earlier.lead.lead_id not in sent
