from pydantic_settings import SettingsConfigDict

from crmhub.settings import HubSettings


class TelephonySettings(HubSettings):
    """Environment variables prefixed TELEPHONY_ (see docs/configuration.md)."""

    model_config = SettingsConfigDict(env_prefix="TELEPHONY_", extra="ignore", frozen=True)

    service_name: str = "telephony"
    http_port: int = 8002
