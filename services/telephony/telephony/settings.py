from pydantic_settings import SettingsConfigDict

from crmhub.settings import HubSettings


class TelephonySettings(HubSettings):
    """Environment variables prefixed TELEPHONY_ (see docs/configuration.md and docs/telephony.md)."""

    model_config = SettingsConfigDict(env_prefix="TELEPHONY_", extra="ignore", frozen=True)

    service_name: str = "telephony"
    http_port: int = 8002
    # The providers (JSON, docs/telephony.md); without it no calls are taken in.
    providers_file: str | None = None
    # A call whose end arrived but whose start (with the client's number) never did is
    # published with what is known this long after its end.
    settle_seconds: float = 30.0
    # How this service is reached from outside (ops: the front door's URL for it): recordings kept
    # at Zadarma or Mango are linked as <public_url>/v1/calls/<id>/recording.
    public_url: str = "http://127.0.0.1:8002"
