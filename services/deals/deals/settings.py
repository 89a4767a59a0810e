from pydantic_settings import SettingsConfigDict

from crmhub.settings import HubSettings


class DealsSettings(HubSettings):
    """Environment variables prefixed DEALS_ (see docs/configuration.md)."""

    model_config = SettingsConfigDict(env_prefix="DEALS_", extra="ignore", frozen=True)

    service_name: str = "deals"
    http_port: int = 8003
