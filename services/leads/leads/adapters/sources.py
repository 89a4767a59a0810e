"""Intake sources: each has a format, its own authentication, defaults, an assignment pool
and limits. Loaded from the JSON file named by LEADS_SOURCES_FILE (docs/leads.md)."""

from __future__ import annotations

import os
from typing import Annotated, Literal

from pydantic import Field, StringConstraints, model_validator

from crmhub.config_files import FrozenConfig, SecretRef, load_config
from crmhub.schemas.team import ENTITY_ID_PATTERN
from leads.domain.assignment import OffDutyPolicy, Pool, Rule, Strategy
from leads.domain.submission import Blocklist

Format = Literal["json", "form", "tilda", "bitrix24", "typeform", "amocrm", "cf7", "bitrix24_events"]
SourceId = Annotated[str, StringConstraints(pattern=ENTITY_ID_PATTERN)]


class Auth(SecretRef):
    """How a source proves who it is.

    - api_key: the secret in a header (default X-Api-Key) or, for senders that cannot set
      headers (Tilda, plain forms), in a query parameter of the webhook URL;
    - hmac: Stripe-style `X-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`, within
      `tolerance_seconds` of now;
    - typeform: Typeform's `Typeform-Signature: sha256=<base64 HMAC-SHA256 of the body>`;
    - application_token: Bitrix24's outbound events, `auth[application_token]` in the form body.
    """

    type: Literal["api_key", "hmac", "typeform", "application_token"] = "api_key"
    header: str = "X-Api-Key"
    query_param: str | None = "api_key"
    signature_header: str = "X-Signature"
    tolerance_seconds: int = 300
    # api_key senders that can only put the key in the body (Tilda's "in the request body"
    # option, under the name set there): the body field holding it. It is checked, then dropped.
    body_field: str | None = None


class PoolConfig(FrozenConfig):
    department_id: str | None = None
    manager_ids: tuple[str, ...] = ()
    strategy: Strategy = "round_robin"

    def pool(self) -> Pool:
        return Pool(self.department_id, tuple(sorted(self.manager_ids)), self.strategy)


class RuleConfig(FrozenConfig):
    source_id: str | None = None
    product: str | None = None
    region: str | None = None
    campaign: str | None = None
    pool: PoolConfig


class AssignmentConfig(FrozenConfig):
    pool: PoolConfig = PoolConfig()
    rules: tuple[RuleConfig, ...] = ()
    off_duty: OffDutyPolicy = "wait"

    def rule_list(self) -> list[Rule]:
        return [Rule(r.pool.pool(), r.source_id, r.product, r.region, r.campaign) for r in self.rules]


class Source(FrozenConfig):
    id: SourceId
    format: Format
    auth: Auth
    default_product: str | None = None
    default_region: str | None = None
    phone_region: str = "RU"
    assignment: AssignmentConfig = AssignmentConfig()
    sla_minutes: Annotated[float, Field(gt=0, le=7 * 24 * 60)] = 15
    dedup_window_hours: Annotated[float, Field(ge=0)] = 14 * 24
    honeypot_field: str | None = "website"
    thank_you_url: str | None = None
    rate_limit_per_minute: Annotated[int, Field(ge=1)] = 600
    ip_rate_limit_per_minute: Annotated[int, Field(ge=1)] = 60
    field_map: dict[str, str] = {}
    # bitrix24_events: the inbound webhook URL leads are read back through (it holds a secret:
    # give it by the name of an environment variable)
    rest_url_env: str | None = None

    def resolved_rest_url(self) -> str | None:
        return os.environ.get(self.rest_url_env) or None if self.rest_url_env else None

    @model_validator(mode="after")
    def _secret_given(self) -> Source:
        if not self.auth.secret and not self.auth.secret_env:
            raise ValueError(f"source {self.id}: auth needs `secret` or `secret_env`")
        return self


class BlocklistConfig(FrozenConfig):
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    domains: tuple[str, ...] = ()

    def blocklist(self) -> Blocklist:
        from crmhub.contacts import normalize_email, normalize_phone

        return Blocklist(
            phones=frozenset(p for p in (normalize_phone(x, "RU") for x in self.phones) if p),
            emails=frozenset(e for e in (normalize_email(x) for x in self.emails) if e),
            domains=frozenset(d.strip().lower().lstrip("@") for d in self.domains),
        )


class SourcesConfig(FrozenConfig):
    sources: tuple[Source, ...]
    blocklist: BlocklistConfig = BlocklistConfig()

    @model_validator(mode="after")
    def _unique(self) -> SourcesConfig:
        ids = [s.id for s in self.sources]
        if len(ids) != len(set(ids)):
            raise ValueError("source ids must be unique")
        return self

    def by_id(self, source_id: str) -> Source | None:
        return next((s for s in self.sources if s.id == source_id), None)


def load_sources(path: str | None, *, environment: str) -> SourcesConfig:
    """The sources file; in production a source without a real secret stops the service."""
    return load_config(
        path,
        SourcesConfig,
        empty=lambda: SourcesConfig(sources=()),
        environment=environment,
        secrets=lambda c: ((f"source {s.id}", s.auth) for s in c.sources),
    )
