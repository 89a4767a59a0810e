from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from crmhub.settings import HubSettings
from deals.domain.rules import parse_offset


class DealsSettings(HubSettings):
    """Environment variables prefixed DEALS_ (see docs/configuration.md and docs/deals.md)."""

    model_config = SettingsConfigDict(env_prefix="DEALS_", extra="ignore", frozen=True)

    service_name: str = "deals"
    http_port: int = 8003
    # The pipelines and the business-process rules (JSON); unset = the seed's, shipped in deals/config/.
    pipelines_file: str | None = None
    rules_file: str | None = None
    # Who "production" is for the rules' notifications: the active managers of this department.
    production_department_id: str = "production"
    # How long one day of the rules' offsets lasts, in seconds. 86400 = real time, counted in
    # each manager's working time; anything else runs the offsets on a plain clock at that
    # scale (the demo's 10 makes "call in 2 days" fall due after 20 seconds).
    rule_seconds_per_day: float = 86400.0
    # An open task becomes overdue (task.overdue to the manager and the head) this long after
    # its due time (rule time: scaled like the offsets).
    task_overdue_grace: str = "1h"
    # The language of the texts the rules write (task titles, alerts): ru or en.
    language: str = "ru"
    # Documents (docs/documents.md): the folder of templates.json, the HTML templates and
    # seller.json; unset = the built-in invoice, proposal and delivery act.
    documents_dir: Path | None = None
    # Where other services reach this one (the signed links e-mails attach files by); unset =
    # http://127.0.0.1:<DEALS_HTTP_PORT>.
    public_url: str | None = None
    # The key of those links; unset = one generated at first start and kept in the database.
    link_secret: str | None = Field(default=None, min_length=32)
    # The calendar documents are dated and numbered by (the invoice year).
    documents_timezone: str = "Europe/Moscow"
    # The 1C exchange (docs/documents.md): the login and password 1C is set up with (HTTP Basic at
    # checkauth); unset = the exchange answers 503. The encoding of the orders 1C reads.
    onec_login: str | None = None
    onec_password: str | None = Field(default=None, min_length=8)
    onec_encoding: str = Field(default="UTF-8", pattern=r"^(UTF-8|windows-1251)$")
    # The JSON payment webhook's sources and their keys: {"buh": "<key of 16+ characters>"}.
    accounting_keys: dict[str, str] = Field(default_factory=dict)

    @field_validator("task_overdue_grace")
    @classmethod
    def _grace(cls, value: str) -> str:
        parse_offset(value)
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if value not in ("ru", "en"):
            raise ValueError("DEALS_LANGUAGE is ru or en")
        return value

    @field_validator("rule_seconds_per_day")
    @classmethod
    def _scale(cls, value: float) -> float:
        if not 0 < value <= 86400 * 7:
            raise ValueError("DEALS_RULE_SECONDS_PER_DAY is a positive number of seconds (86400 = real time)")
        return value
