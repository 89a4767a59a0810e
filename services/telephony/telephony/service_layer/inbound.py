"""Call events published to crm.inbound.calls by outside systems: read exactly as the `json`
provider webhook reads them, under a configured `json` provider, and taken in the same way.
What cannot be taken in is a PoisonMessage (crm.inbound.calls.dlq, the reason in its headers)."""

from __future__ import annotations

import json

from crmhub.events import CloudEvent, PoisonMessage
from crmhub.intake import IntakeError, Received
from crmhub.schemas.inbound import CallReported
from telephony.adapters.formats import canonical_json
from telephony.service_layer.calls import receive
from telephony.service_layer.context import Telephony


async def take_in_published(deps: Telephony, event: CloudEvent, payload: CallReported) -> list[str]:
    provider = deps.providers.by_id(payload.provider_id)
    if provider is None:
        raise PoisonMessage(f"provider_id: no telephony provider {payload.provider_id!r} is configured")
    if provider.format != "json":
        raise PoisonMessage(f"provider_id: {provider.id!r} takes {provider.format}, not the canonical call event")
    received = Received(
        method="KAFKA",
        url=f"kafka:crm.inbound.calls/{event.id}",
        headers={"content-type": "application/json"},
        query={},
        body=json.dumps(payload.call).encode(),
    )
    try:
        parsed = canonical_json.parse(provider, received)
    except IntakeError as exc:
        raise PoisonMessage(f"call: {exc} ({exc.code})") from None
    return await receive(deps, provider, parsed.facts)
