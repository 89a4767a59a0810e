"""Telephony providers: each has a format, credentials, a time zone, tracking lines and the
extension -> manager map. Loaded from the JSON file named by TELEPHONY_PROVIDERS_FILE."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, StringConstraints, field_validator

from crmhub.config_files import FrozenConfig, SecretRef, load_config
from crmhub.schemas.team import ENTITY_ID_PATTERN

Format = Literal["json", "asterisk", "freeswitch", "zadarma", "mango", "twilio", "bitrix24"]


class Line(FrozenConfig):
    """A tracking number: which campaign brought the call, and whose department answers it."""

    campaign: str | None = None
    department_id: str | None = None


class Provider(SecretRef):
    id: Annotated[str, StringConstraints(pattern=ENTITY_ID_PATTERN)]
    format: Format
    # api_key formats (json, asterisk, bitrix24): the key; zadarma: the API secret;
    # mango: the salt (with `key` = vpbx_api_key); twilio: the auth token.
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
    # asterisk, freeswitch: how the dialplan tells directions (see docs/telephony.md)
    outbound_contexts: tuple[str, ...] = ("from-internal", "internal", "outbound", "from-sip", "from-users", "default")
    inbound_contexts: tuple[str, ...] = (
        "public",
        "from-trunk",
        "from-pstn",
        "from-did",
        "ext-did",
        "from-external",
        "incoming",
        "inbound",
    )
    extension_digits: Annotated[int, Field(ge=1, le=8)] = 5
    # bitrix24: the connector's USER_ID -> manager
    users: dict[str, str] = {}
    # zadarma, mango: the provider's API, where recordings are fetched (tests point it at a local fake)
    api_url: str | None = None
    answer_standard_seconds: Annotated[float, Field(gt=0)] = 15
    callback_window_minutes: Annotated[float, Field(gt=0)] = 30
    # answer the PBX's routing question (docs/telephony.md "Who answers"): Zadarma in its
    # NOTIFY_START answer, Mango by commands/route, any PBX at /v1/telephony/<id>/route
    route_calls: bool = False
    # what closes a missed call's call-back: a call that reached the client (default), or any attempt
    callback_closed_by: Literal["reached", "attempt"] = "reached"

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo

        ZoneInfo(value)
        return value


class ProvidersConfig(FrozenConfig):
    providers: tuple[Provider, ...]

    def by_id(self, provider_id: str) -> Provider | None:
        return next((p for p in self.providers if p.id == provider_id), None)


def load_providers(path: str | None, *, environment: str) -> ProvidersConfig:
    """The providers file; in production a provider without a real secret stops the service."""
    return load_config(
        path,
        ProvidersConfig,
        empty=lambda: ProvidersConfig(providers=()),
        environment=environment,
        secrets=lambda c: ((f"provider {p.id}", p) for p in c.providers),
    )
