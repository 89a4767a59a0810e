"""Configuration files of senders (lead sources, telephony providers): JSON validated by a
pydantic model, with the production-secret rule in one place — in production a sender without
a real secret (12+ characters, not a demo value) stops the service at start."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict

DEMO_SECRETS = frozenset({"demo-key", "demo-secret", "changeme", "secret"})
MIN_SECRET_LENGTH = 12


class FrozenConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class SecretRef(FrozenConfig):
    """A secret given inline (`secret`) or by the name of an environment variable (`secret_env`)."""

    secret: str | None = None
    secret_env: str | None = None

    def resolved_secret(self) -> str | None:
        if self.secret_env:
            return os.environ.get(self.secret_env) or None
        return self.secret


C = TypeVar("C", bound=BaseModel)


def load_config(
    path: str | None,
    model: type[C],
    *,
    empty: Callable[[], C],
    environment: str,
    secrets: Callable[[C], Iterable[tuple[str, SecretRef]]],
) -> C:
    """The file at `path` (or `empty()` without one); in production every secret must be real."""
    if not path:
        return empty()
    config = model.model_validate(json.loads(Path(path).read_text()))
    if environment == "production":
        for name, ref in secrets(config):
            secret = ref.resolved_secret()
            if not secret or secret in DEMO_SECRETS or len(secret) < MIN_SECRET_LENGTH:
                raise ValueError(
                    f"{name}: production needs a real secret ({MIN_SECRET_LENGTH}+ characters, not a demo value)"
                )
    return config
