"""Messages a person must receive to manage their own sign-in: a password-reset link, and the
link that confirms a new e-mail address or Telegram chat before any client data goes there.
On `crm.motivation`, read by the notifier only (sent by e-mail or to the new address, never to the
log, the inbox or webhooks). Each link works once and for a short time."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from crmhub import topics
from crmhub.events import EventData


class PasswordResetRequested(EventData):
    """Someone asked to reset this manager's password: the link goes to their e-mail."""

    event_type: ClassVar[str] = "account.password_reset_requested"
    topic: ClassVar[topics.Topic] = topics.MOTIVATION

    manager_id: str
    link: str
    expires_at: datetime


class AddressConfirmationRequested(EventData):
    """A manager's notifications are to go to a new address: it is used once confirmed from there."""

    event_type: ClassVar[str] = "account.address_confirmation_requested"
    topic: ClassVar[topics.Topic] = topics.MOTIVATION

    manager_id: str
    channel: Literal["email", "telegram"]
    address: str
    link: str
    expires_at: datetime
