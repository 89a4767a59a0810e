from decimal import Decimal

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from crmhub.settings import HubSettings


class MotivationSettings(HubSettings):
    """Environment variables prefixed MOTIVATION_ (see docs/configuration.md)."""

    model_config = SettingsConfigDict(env_prefix="MOTIVATION_", extra="ignore", frozen=True)

    service_name: str = "motivation"
    http_port: int = 8004
    # Sign-in (docs/security.md): access tokens live this long; refresh tokens this long.
    access_token_minutes: float = 15.0
    refresh_token_days: float = 30.0
    # The signing key is replaced this often; old keys stay published until their tokens expire.
    key_rotation_days: float = 30.0
    # Failed sign-ins before an account is locked, and for how long.
    max_failed_logins: int = 5
    lockout_minutes: float = 15.0
    # Sign-in attempts per client address per minute.
    login_rate_per_minute: int = 20
    # The first administrator, made at start when no account exists yet (a department `hq` and a
    # manager with this id and e-mail); without a password nobody is made.
    bootstrap_admin_id: str = "admin"
    bootstrap_admin_email: str = "admin@crm-hub.local"
    bootstrap_admin_password: str | None = None
    # Where people's browsers reach this service (links in e-mails); unset = AUTH_ISSUER.
    public_url: str | None = None
    # How long a password-reset or address-confirmation link works.
    link_minutes: float = 30.0
    # Plans and pay (docs/motivation.md): a period is a month starting on this day of the month.
    period_start_day: int = Field(default=1, ge=1, le=28)
    # A department whose managers missed the sales plan above this share in each of this many
    # closed months in a row has an unrealistic plan (a seasonal one gets a review instead) ...
    unrealistic_share: Decimal = Field(default=Decimal("0.7"), gt=0, lt=1)
    unrealistic_months: int = Field(default=3, ge=1, le=12)
    # ... and when at most this share missed, each of them is diagnosed as underperforming.
    few_share: Decimal = Field(default=Decimal("0.3"), gt=0, lt=1)
    # How often events parked for a manager the directory did not know are tried again.
    parked_retry_seconds: float = 10.0
    # Reports (docs/reports.md): the company's calendar for reports' days, weeks and months ...
    reports_timezone: str = "Europe/Moscow"
    # ... and an inbound call answered within this many seconds of ringing counts as "by the third ring".
    third_ring_seconds: float = Field(default=15.0, gt=0, le=120)
