from pydantic_settings import SettingsConfigDict

from crmhub.settings import HubSettings


class LeadsSettings(HubSettings):
    """Environment variables prefixed LEADS_ (see docs/configuration.md)."""

    model_config = SettingsConfigDict(env_prefix="LEADS_", extra="ignore", frozen=True)

    service_name: str = "leads"
    http_port: int = 8001
