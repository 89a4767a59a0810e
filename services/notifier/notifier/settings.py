from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from crmhub.settings import HubSettings


class NotifierSettings(HubSettings):
    """Environment variables prefixed NOTIFIER_ (see docs/configuration.md and docs/notifier.md)."""

    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", frozen=True)

    service_name: str = "notifier"
    http_port: int = 8005
    # Channels for recipients who chose none: email, telegram, inbox, log (comma-separated).
    default_channels: str = "inbox,log"
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_from: str = "CRM hub <crm-hub@localhost>"
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    # Where e-mail attachments may be fetched from (comma-separated URL prefixes): the hub's own
    # services that send documents by reference (the deals service's signed links).
    attachment_origins: str = "http://127.0.0.1:8003/"
    telegram_base_url: str = "https://api.telegram.org"
    telegram_token: str | None = None
    # Outgoing webhooks (JSON list of {id, url, secret, event_types}); docs/notifier.md.
    webhooks_file: str | None = None
    # Derives the signing secret of each webhook subscription made over the API (/v1/webhooks):
    # no secret is stored, and without this key subscriptions cannot be made.
    webhook_signing_key: SecretStr | None = None
    max_attempts: int = 5
    backoff_seconds: float = 2.0
    # More than this many non-urgent notifications to one recipient on one channel within the
    # window are folded into one digest at the end of the window; 0: no limit.
    burst_limit: int = Field(default=5, ge=0)
    burst_window_seconds: float = 60.0
    # The routing table (JSON, docs/notifier.md); unset = the one shipped with the notifier.
    routing_file: str | None = None
    # Jinja2 templates, <dir>/<language>/<template>.txt; unset = the ones shipped with the notifier.
    templates_dir: str | None = None
