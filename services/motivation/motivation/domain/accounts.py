"""People's accounts: which roles a manager holds, and the sign-in rules (lockout after repeated
failures). No I/O: hashing and storage are the adapters'."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pydantic import BaseModel

from crmhub.auth import Role


@dataclass(frozen=True)
class SignInPolicy:
    max_failures: int = 5
    lockout: timedelta = timedelta(minutes=15)


class Account(BaseModel):
    """A manager's sign-in: `id` is the manager id. The password hash never leaves the service."""

    id: str
    roles: list[Role]
    password_hash: str | None = None
    failed_logins: int = 0
    locked_until: datetime | None = None
    changed_at: datetime

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now

    def failed(self, now: datetime, policy: SignInPolicy) -> None:
        self.failed_logins += 1
        if self.failed_logins >= policy.max_failures:
            self.locked_until = now + policy.lockout
            self.failed_logins = 0

    def signed_in(self) -> None:
        self.failed_logins = 0
        self.locked_until = None
