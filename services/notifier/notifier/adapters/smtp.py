"""SMTP sessions kept open between messages, as every bulk mailer keeps them: a message costs its
MAIL, RCPT and DATA exchanges, not also a connection, the greeting, EHLO, STARTTLS and a login.

- A session is taken for one message at a time and given back after it was accepted; any error
  closes it (the next message gets a fresh one), so a session is never left mid-transaction.
- One idle longer than `idle_seconds` is closed rather than reused (servers drop idle clients:
  Postfix after 300 s), and at most `keep` stay open.
- A reused session the server had closed meanwhile fails at its first command, before the
  message was handed over: the message then goes once more on a new session. (Should a server
  drop the session in the very moment it accepted the message, the copy carries the same
  Message-ID, which mail clients show once.) A failure on a fresh session is the channel's: the
  caller tries again later, with backoff.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message

import aiosmtplib


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0


class SmtpSessions:
    def __init__(
        self,
        settings: SmtpSettings,
        *,
        keep: int = 16,
        idle_seconds: float = 20.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.settings = settings
        self.keep = keep
        self.idle_seconds = idle_seconds
        self.clock = clock
        self._idle: list[tuple[aiosmtplib.SMTP, float]] = []  # newest last
        self.opened = 0  # sessions opened so far (what reuse saves shows here)

    async def send(self, mail: Message) -> None:
        client = self._reusable()
        if client is not None:
            try:
                await self._send_on(client, mail)
                return
            except aiosmtplib.SMTPServerDisconnected:
                pass  # closed by the server while idle: the message was not taken
        await self._send_on(await self._open(), mail)

    async def _send_on(self, client: aiosmtplib.SMTP, mail: Message) -> None:
        """One message on one session: given back once accepted, closed on any error."""
        try:
            await client.send_message(mail)
        except BaseException:
            client.close()
            raise
        self._give_back(client)

    def _reusable(self) -> aiosmtplib.SMTP | None:
        now = self.clock()
        while self._idle:
            client, since = self._idle.pop()
            if client.is_connected and now - since < self.idle_seconds:
                return client
            client.close()
        return None

    def _give_back(self, client: aiosmtplib.SMTP) -> None:
        self._idle.append((client, self.clock()))
        while len(self._idle) > self.keep:
            oldest, _ = self._idle.pop(0)
            oldest.close()

    async def _open(self) -> aiosmtplib.SMTP:
        s = self.settings
        client = aiosmtplib.SMTP(
            hostname=s.host,
            port=s.port,
            username=s.username,
            password=s.password,
            start_tls=s.starttls,
            timeout=s.timeout,
        )
        await client.connect()
        self.opened += 1
        return client

    async def aclose(self) -> None:
        """At shutdown: QUIT the idle sessions."""
        idle, self._idle = self._idle, []
        for client, _ in idle:
            try:
                if client.is_connected:
                    await client.quit()
            except (aiosmtplib.SMTPException, OSError):
                pass
            finally:
                client.close()
