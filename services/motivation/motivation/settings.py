from pydantic_settings import SettingsConfigDict

from crmhub.settings import HubSettings


class MotivationSettings(HubSettings):
    """Environment variables prefixed MOTIVATION_ (see docs/configuration.md)."""

    model_config = SettingsConfigDict(env_prefix="MOTIVATION_", extra="ignore", frozen=True)

    service_name: str = "motivation"
    http_port: int = 8004
