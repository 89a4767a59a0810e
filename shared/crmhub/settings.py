"""Settings shared by every service. Each service subclasses HubSettings with its own env prefix
(LEADS_, TELEPHONY_, DEALS_, MOTIVATION_, NOTIFIER_).

The two infrastructure addresses are also read unprefixed (KAFKA_BOOTSTRAP_SERVERS, MONGODB_URL)
so one variable points the whole hub at its servers; a prefixed one overrides it per service.
"""

from __future__ import annotations

import os
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from crmhub.kafka import KafkaLogin


class HubSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CRMHUB_", extra="ignore", frozen=True)

    service_name: str = "crmhub"
    environment: Literal["production", "demo", "test"] = "production"
    kafka_bootstrap_servers: str = Field(
        default_factory=lambda: os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    # Kafka sign-in (docs/security.md): PLAINTEXT for the local broker on loopback; SASL_PLAINTEXT
    # or SASL_SSL with SCRAM for a broker other systems subscribe to. Unprefixed KAFKA_* too.
    kafka_security_protocol: str = Field(default_factory=lambda: os.environ.get("KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"))
    kafka_sasl_mechanism: str = Field(default_factory=lambda: os.environ.get("KAFKA_SASL_MECHANISM", "SCRAM-SHA-512"))
    kafka_sasl_username: str | None = Field(default_factory=lambda: os.environ.get("KAFKA_SASL_USERNAME") or None)
    kafka_sasl_password: str | None = Field(default_factory=lambda: os.environ.get("KAFKA_SASL_PASSWORD") or None)
    mongodb_url: str = Field(default_factory=lambda: os.environ.get("MONGODB_URL", "mongodb://127.0.0.1:27017/"))
    mongodb_database: str = ""
    http_host: str = "0.0.0.0"
    http_port: int = 8000
    log_level: str = "INFO"
    # Addresses whose X-Forwarded-For is believed (the front door); others' is ignored.
    forwarded_allow_ips: str = Field(default_factory=lambda: os.environ.get("CRMHUB_FORWARDED_ALLOW_IPS", "127.0.0.1"))
    # Largest HTTP request body accepted; larger ones get 413 before they are read whole.
    max_body_bytes: int = 256 * 1024
    # A request body must arrive within this many seconds (a slow client is answered 408 and let go).
    body_timeout_seconds: float = Field(default=30.0, gt=0, le=600)
    # How long an idle keep-alive connection stays open: longer than any client's or proxy's idle
    # timeout, so the server never closes one a client is reusing (a request with no answer).
    keep_alive_seconds: int = Field(default=75, gt=0, le=3600)
    # Connections and requests in flight at once; beyond it, 503 at once.
    max_concurrency: int = Field(default=1000, gt=0)
    # Consumers: attempts for an unexpected error before the message goes to the dead-letter topic.
    # How often the service checks MongoDB and Kafka (crmhub.dependencies), and how long its own
    # MongoDB client may fail while a new connection works before /health says the process is wedged.
    dependency_check_seconds: float = Field(default=5.0, gt=0)
    wedged_after_seconds: float = Field(default=30.0, gt=0)
    consumer_max_attempts: int = 3
    consumer_backoff_seconds: float = 0.2
    # Outbox relay: how often it looks for pending events when nothing nudged it.
    outbox_poll_seconds: float = 0.5
    # ... and how often it scans every outbox collection for events nobody told it about
    # (written by another instance, or left by a crash).
    outbox_scan_seconds: float = 10.0
    create_topics: bool = True
    # Durable timers (crmhub.timers): how often each instance looks for due timers it was not
    # told about, how long a claimed timer is held before another instance may fire it, and
    # how many fire at once.
    timer_poll_seconds: float = 1.0
    timer_lease_seconds: float = 30.0
    timer_concurrency: int = 8
    # Events in the order they happened (crmhub.watermarks; the notifier's e-mail, Telegram and
    # webhooks): how long after its time an event may still reach Kafka and be put in its place,
    # the longest a timer waits for every partition to be handled past it, and how often the
    # consumers report how far they are.
    event_order_grace_seconds: float = Field(default=0.5, ge=0, le=60)
    event_order_wait_seconds: float = Field(default=30.0, ge=0, le=3600)
    event_order_report_seconds: float = Field(default=0.1, gt=0, le=10)
    # Who signs the bearer tokens every service checks (docs/security.md): the hub's own issuer
    # (the motivation service) and, optionally, an external OpenID Connect provider.
    auth_issuer: str = Field(default_factory=lambda: os.environ.get("CRMHUB_AUTH_ISSUER", "http://127.0.0.1:8004"))
    auth_jwks_url: str = Field(
        default_factory=lambda: os.environ.get("CRMHUB_AUTH_JWKS_URL", "http://127.0.0.1:8004/.well-known/jwks.json")
    )
    auth_audience: str = "crm-hub"
    oidc_issuer: str | None = Field(default_factory=lambda: os.environ.get("CRMHUB_OIDC_ISSUER") or None)
    oidc_jwks_url: str | None = Field(default_factory=lambda: os.environ.get("CRMHUB_OIDC_JWKS_URL") or None)
    oidc_audience: str = Field(default_factory=lambda: os.environ.get("CRMHUB_OIDC_AUDIENCE", "crm-hub"))
    oidc_role_claim: str = Field(default_factory=lambda: os.environ.get("CRMHUB_OIDC_ROLE_CLAIM", "roles"))
    # JSON: the provider's role names -> the hub's (admin, head, manager, accounting)
    oidc_role_map: str = Field(default_factory=lambda: os.environ.get("CRMHUB_OIDC_ROLE_MAP", "{}"))

    @field_validator("kafka_security_protocol")
    @classmethod
    def _protocol(cls, value: str) -> str:
        if value not in ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL"):
            raise ValueError("KAFKA_SECURITY_PROTOCOL is PLAINTEXT, SASL_PLAINTEXT or SASL_SSL")
        return value

    @field_validator("kafka_sasl_mechanism")
    @classmethod
    def _mechanism(cls, value: str) -> str:
        if value not in ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"):
            raise ValueError("KAFKA_SASL_MECHANISM is SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN")
        return value

    @property
    def kafka_login(self) -> KafkaLogin:
        return KafkaLogin(
            self.kafka_security_protocol, self.kafka_sasl_mechanism, self.kafka_sasl_username, self.kafka_sasl_password
        )

    @property
    def database_name(self) -> str:
        return self.mongodb_database or f"crm_{self.service_name}"
