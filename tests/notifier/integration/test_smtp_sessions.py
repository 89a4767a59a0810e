"""E-mail goes over SMTP sessions kept open between messages (a real aiosmtpd server): one
session carries many messages; one the server closed while idle is replaced and the message
still arrives once; an idle one past its time is not reused."""

from __future__ import annotations

import asyncio
from email.message import EmailMessage

import pytest

from notifier.adapters.smtp import SmtpSessions, SmtpSettings
from support.fakes import SmtpSink

pytestmark = pytest.mark.integration


def mail(n: int) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "hub@example.com", "anna@example.com", f"message {n}"
    message.set_content(f"body {n}")
    return message


def subjects(sink: SmtpSink) -> list[str]:
    return [str(m["Subject"]) for m in sink.messages]


async def test_one_session_carries_message_after_message():
    sink = SmtpSink().start()
    sessions = SmtpSessions(SmtpSettings("127.0.0.1", sink.port, "hub@example.com"))
    try:
        for n in range(5):
            await sessions.send(mail(n))
        await asyncio.gather(*(sessions.send(mail(n)) for n in range(5, 9)))  # side by side: one session each
        assert subjects(sink)[:5] == [f"message {n}" for n in range(5)]
        assert sorted(subjects(sink)) == sorted(f"message {n}" for n in range(9))
        assert sessions.opened == 4
    finally:
        await sessions.aclose()
        sink.stop()


async def test_a_session_the_server_closed_is_replaced_and_the_message_arrives_once():
    sink = SmtpSink().start()
    sessions = SmtpSessions(SmtpSettings("127.0.0.1", sink.port, "hub@example.com"))
    try:
        await sessions.send(mail(0))
        sink.stop()  # the server goes away, and with it the open session
        sink = SmtpSink(port=sink.port).start()
        await sessions.send(mail(1))
        assert subjects(sink) == ["message 1"]
        assert sessions.opened == 2
    finally:
        await sessions.aclose()
        sink.stop()


async def test_a_session_idle_past_its_time_is_not_reused():
    sink = SmtpSink().start()
    now = [0.0]
    sessions = SmtpSessions(
        SmtpSettings("127.0.0.1", sink.port, "hub@example.com"), idle_seconds=20, clock=lambda: now[0]
    )
    try:
        await sessions.send(mail(0))
        now[0] += 19
        await sessions.send(mail(1))
        assert sessions.opened == 1
        now[0] += 21
        await sessions.send(mail(2))
        assert sessions.opened == 2
        assert subjects(sink) == ["message 0", "message 1", "message 2"]
    finally:
        await sessions.aclose()
        sink.stop()
