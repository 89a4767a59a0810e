"""`bitrix24_events`: Bitrix24's outbound events, so a company leaving Bitrix24 can point it at
the hub (an outbound webhook, "Исходящий вебхук", or an application's event handler).

As Bitrix24 sends them (github.com/bitrix24/b24restdocs, api-reference/crm/leads/events/
on-crm-lead-add.md, api-reference/events/index.md): a form-encoded POST of `event`
(ONCRMLEADADD), `event_handler_id`, `data[FIELDS][ID]`, `ts` and `auth[...]`, where
`auth[application_token]` is the token Bitrix24 showed when the handler was created: it is the
source's secret (auth type `application_token`). The event carries only the lead's ID, so the
lead is read back with `crm.lead.get` through the source's `rest_url` (an inbound webhook of
that Bitrix24, e.g. https://<portal>/rest/1/<code>/, given by `rest_url_env`) and taken in like
a `crm.lead.add` body; the same lead twice is one submission (`bitrix24:lead:<ID>`). Other
events are acknowledged and ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crmhub.intake import Received, form_fields, invalid, require_media_type
from leads.adapters.formats.common import Parsed

if TYPE_CHECKING:
    from leads.adapters.sources import Source

TAKEN = ("ONCRMLEADADD",)


def event_fields(received: Received) -> dict[str, str]:
    require_media_type(received, "application/x-www-form-urlencoded")
    return form_fields(received.body, join_repeated=False)


def parse(source: Source, received: Received) -> Parsed:
    data = event_fields(received)
    event = data.get("event", "").upper()
    if event not in TAKEN:
        return Parsed(probe=True)  # acknowledged: Bitrix24 needs a 200, the hub has no use for it
    lead_id = data.get("data[FIELDS][ID]", "").strip()
    if not lead_id.isdigit() or len(lead_id) > 18:
        raise invalid("data[FIELDS][ID]: the lead's id must be a number", field="data[FIELDS][ID]")
    return Parsed(fetch=lead_id, submission_key=f"bitrix24:lead:{lead_id}")
