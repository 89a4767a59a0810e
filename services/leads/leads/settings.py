from pydantic_settings import SettingsConfigDict

from crmhub.settings import HubSettings


class LeadsSettings(HubSettings):
    """Environment variables prefixed LEADS_ (see docs/configuration.md and docs/leads.md)."""

    model_config = SettingsConfigDict(env_prefix="LEADS_", extra="ignore", frozen=True)

    service_name: str = "leads"
    http_port: int = 8001
    # The intake sources (JSON, docs/leads.md); without it the service takes in no site leads.
    sources_file: str | None = None
    # The source whose assignment and SLA apply to leads made from calls (crm.calls).
    phone_source_id: str = "phone"
    # Open leads per manager are re-counted from the stored leads at most this often, when a lead
    # is assigned (each instance keeps them in memory and adjusts them as it assigns; the count
    # takes in other instances' work).
    recount_seconds: float = 30.0
