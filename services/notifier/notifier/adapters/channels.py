"""The channels a notification can travel: e-mail (SMTP), Telegram (Bot API), outgoing
webhooks (HMAC-signed), the in-app inbox, and the log (for demos). Each `send` either returns
(delivered) or raises `DeliveryError` saying whether another attempt may succeed."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from typing import Any

import aiosmtplib
import httpx

from crmhub.intake import sign_timestamped
from notifier.adapters.delivery_store import DeliveryStore
from notifier.adapters.smtp import SmtpSessions, SmtpSettings

__all__ = ["Channels", "DeliveryError", "Outgoing", "SmtpSettings"]

log = logging.getLogger("notifier.channels")
MAX_ATTACHMENT = 20 * 1024 * 1024


class DeliveryError(Exception):
    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class Outgoing:
    notification_id: str
    recipient: str
    subject: str
    text: str
    email: str | None = None
    telegram_chat_id: str | None = None
    webhook_url: str | None = None
    # the current signing secret first; during a rotation's grace the previous one signs too
    webhook_secrets: tuple[str, ...] = ()
    payload: dict[str, object] | None = None
    # files an e-mail carries, by reference: {name, url, media_type, sha256, size}
    attachments: tuple[dict[str, Any], ...] = ()


class Channels:
    def __init__(
        self,
        *,
        store: DeliveryStore,
        smtp: SmtpSettings | None,
        telegram_base_url: str,
        telegram_token: str | None,
        http: httpx.AsyncClient,
        attachment_origins: tuple[str, ...] = (),
    ) -> None:
        self.attachment_origins = attachment_origins
        self.store = store
        self.smtp = smtp
        self.smtp_sessions = SmtpSessions(smtp) if smtp is not None else None
        self.telegram_base_url = telegram_base_url.rstrip("/")
        self.telegram_token = telegram_token
        self.http = http

    async def aclose(self) -> None:
        if self.smtp_sessions is not None:
            await self.smtp_sessions.aclose()

    async def send(self, channel: str, message: Outgoing) -> None:
        handler = {
            "email": self._email,
            "telegram": self._telegram,
            "webhook": self._webhook,
            "inbox": self._inbox,
            "log": self._log,
        }.get(channel)
        if handler is None:
            raise DeliveryError(f"unknown channel {channel!r}", retryable=False)
        await handler(message)

    async def _email(self, message: Outgoing) -> None:
        if self.smtp is None or not message.email:
            raise DeliveryError(
                "e-mail is not configured (NOTIFIER_SMTP_HOST) or the recipient has no address", retryable=False
            )
        # MIMEText + Header: CPython 3.11's default header folding drops the space between two
        # encoded words, which garbles long Cyrillic subjects; Header keeps them intact.
        mail: MIMEText | MIMEMultipart = MIMEText(message.text, "plain", "utf-8")
        if message.attachments:
            mail = MIMEMultipart()
            mail.attach(MIMEText(message.text, "plain", "utf-8"))
            for attachment in message.attachments:
                mail.attach(await self._attachment(attachment))
        mail["From"] = self.smtp.sender
        mail["To"] = message.email
        mail["Subject"] = Header(message.subject, "utf-8")  # type: ignore[assignment]  # the stubs only know str
        mail["Message-ID"] = f"<{hashlib.sha256(message.notification_id.encode()).hexdigest()[:32]}@crm-hub>"
        assert self.smtp_sessions is not None
        try:
            await self.smtp_sessions.send(mail)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise DeliveryError(f"the mail server refused the recipient: {exc}", retryable=False) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise DeliveryError(f"SMTP: {exc}", retryable=True) from None

    async def _attachment(self, attachment: dict[str, Any]) -> MIMEApplication:
        """Fetch a file an e-mail carries by reference: only from the hub's own services (the
        configured origins), at most MAX_ATTACHMENT bytes, and exactly the file the event named."""
        url = str(attachment.get("url") or "")
        if not any(url.startswith(origin) for origin in self.attachment_origins):
            raise DeliveryError(
                f"attachment {url[:80]!r} is not from an origin NOTIFIER_ATTACHMENT_ORIGINS allows", retryable=False
            )
        try:
            response = await self.http.get(url)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"attachment unreachable: {exc}", retryable=True) from None
        if response.status_code != 200:
            retryable = response.status_code >= 500 or response.status_code == 429
            raise DeliveryError(f"attachment answered {response.status_code}", retryable=retryable)
        content = response.content
        if len(content) > MAX_ATTACHMENT:
            raise DeliveryError(f"attachment is larger than {MAX_ATTACHMENT} bytes", retryable=False)
        if hashlib.sha256(content).hexdigest() != attachment.get("sha256"):
            raise DeliveryError("attachment is not the file the event names (SHA-256 differs)", retryable=False)
        media_type = str(attachment.get("media_type") or "application/octet-stream")
        part = MIMEApplication(content, _subtype=media_type.split("/", 1)[-1])
        part.add_header(
            "Content-Disposition", "attachment", filename=("utf-8", "", str(attachment.get("name") or "file"))
        )
        return part

    async def _telegram(self, message: Outgoing) -> None:
        if not self.telegram_token or not message.telegram_chat_id:
            raise DeliveryError(
                "Telegram is not configured (NOTIFIER_TELEGRAM_TOKEN) or the recipient has no chat id", retryable=False
            )
        url = f"{self.telegram_base_url}/bot{self.telegram_token}/sendMessage"
        try:
            response = await self.http.post(
                url, json={"chat_id": message.telegram_chat_id, "text": f"{message.subject}\n\n{message.text}"[:4096]}
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"Telegram unreachable: {exc}", retryable=True) from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        if response.status_code == 200 and body.get("ok"):
            return
        description = body.get("description") or response.text[:200]
        if response.status_code == 429:
            retry_after = float((body.get("parameters") or {}).get("retry_after") or 1)
            raise DeliveryError(f"Telegram rate limit: {description}", retryable=True, retry_after=retry_after)
        raise DeliveryError(
            f"Telegram answered {response.status_code}: {description}", retryable=response.status_code >= 500
        )

    async def _webhook(self, message: Outgoing) -> None:
        if not message.webhook_url or not message.webhook_secrets:
            raise DeliveryError("webhook endpoint has no url or secret (deleted?)", retryable=False)
        body = json.dumps(
            {
                "notification_id": message.notification_id,
                "subject": message.subject,
                "text": message.text,
                **(message.payload or {}),
            },
            ensure_ascii=False,
        ).encode()
        timestamp = int(time.time())
        signatures = [sign_timestamped(secret, timestamp, body) for secret in message.webhook_secrets]
        # Stripe's scheme: one t=, a v1= per secret valid now (two during a rotation)
        signature = ",".join([signatures[0], *(s.split(",", 1)[1] for s in signatures[1:])])
        headers = {
            "Content-Type": "application/json",
            "X-Signature": signature,
            "Idempotency-Key": message.notification_id,
        }
        try:
            response = await self.http.post(message.webhook_url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise DeliveryError(f"webhook timed out: {exc}", retryable=True) from None
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook unreachable: {exc}", retryable=True) from None
        if response.status_code < 300:
            return
        if response.status_code == 429 or response.status_code >= 500:
            retry_after = response.headers.get("retry-after")
            raise DeliveryError(
                f"webhook answered {response.status_code}",
                retryable=True,
                retry_after=float(retry_after) if retry_after and retry_after.isdigit() else None,
            )
        raise DeliveryError(
            f"webhook answered {response.status_code}: the endpoint refuses it, retrying will not help", retryable=False
        )

    async def _inbox(self, message: Outgoing) -> None:
        await self.store.put_in_inbox(
            message.notification_id, message.recipient, message.subject, message.text, datetime.now(UTC)
        )

    async def _log(self, message: Outgoing) -> None:
        log.info("notification for %s: %s | %s", message.recipient, message.subject, message.text.replace("\n", " / "))
