from pydantic_settings import SettingsConfigDict

from crmhub.settings import HubSettings


class NotifierSettings(HubSettings):
    """Environment variables prefixed NOTIFIER_ (see docs/configuration.md)."""

    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", frozen=True)

    service_name: str = "notifier"
    http_port: int = 8005
