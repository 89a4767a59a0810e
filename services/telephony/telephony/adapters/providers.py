"""Telephony providers: each has a format, credentials, a time zone, tracking lines and the
extension -> manager map. Loaded from the JSON file named by TELEPHONY_PROVIDERS_FILE."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

from crmhub.schemas.team import ENTITY_ID_PATTERN

Format = Literal["json", "asterisk", "zadarma", "mango", "twilio", "bitrix24"]


class _Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Line(_Config):
    """A tracking number: which campaign brought the call, whose department answers it."""

    campaign: str | None = None
    department_id: str | None = None


class Provider(_Config):
    id: Annotated[str, StringConstraints(pattern=ENTITY_ID_PATTERN)]
    format: Format
    # api_key formats (json, asterisk, bitrix24): the key; zadarma: the API secret;
    # mango: the salt (with `key` = vpbx_api_key); twilio: the auth token.
    secret: str | None = None
    secret_env: str | None = None
    key: str | None = None
    api_key_header: str = "X-Api-Key"
    api_key_query_param: str | None = "api_key"
    allowed_ips: tuple[str, ...] = ()
    # Twilio signs the URL it called: the public URL of this endpoint, as configured there.
    public_url: str | None = None
    timezone: str = "Europe/Moscow"
    phone_region: str = "RU"
    lines: dict[str, Line] = {}
    extensions: dict[str, str] = {}
    answer_standard_seconds: Annotated[float, Field(gt=0)] = 15
    callback_window_minutes: Annotated[float, Field(gt=0)] = 30

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        ZoneInfo(value)
        return value

    def resolved_secret(self) -> str | None:
        return (os.environ.get(self.secret_env) or None) if self.secret_env else self.secret


class ProvidersConfig(_Config):
    providers: tuple[Provider, ...]

    def by_id(self, provider_id: str) -> Provider | None:
        return next((p for p in self.providers if p.id == provider_id), None)


DEMO_SECRETS = frozenset({"demo-key", "demo-secret", "changeme", "secret"})


def load_providers(path: str | None, *, environment: str) -> ProvidersConfig:
    if not path:
        return ProvidersConfig(providers=())
    config = ProvidersConfig.model_validate(json.loads(Path(path).read_text()))
    if environment == "production":
        for provider in config.providers:
            secret = provider.resolved_secret()
            if not secret or secret in DEMO_SECRETS or len(secret) < 12:
                raise ValueError(f"provider {provider.id}: production needs a real secret (12+ characters, not a demo value)")
    return config
