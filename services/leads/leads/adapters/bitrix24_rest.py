"""Reading a lead back from Bitrix24 (`crm.lead.get`) for its outbound ONCRMLEADADD event, through
the source's inbound webhook URL. Only that configured URL is called, never one the event names."""

from __future__ import annotations

from typing import Any

import httpx

from crmhub.intake import IntakeError
from leads.adapters.sources import Source


class Bitrix24Rest:
    def __init__(self, timeout: float = 10.0) -> None:
        self._timeout = timeout

    async def lead(self, source: Source, lead_id: str) -> dict[str, Any]:
        base = source.resolved_rest_url()
        if not base:
            raise IntakeError(409, "not_configured", f"source {source.id} has no rest_url to read Bitrix24 leads from")
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.get(f"{base.rstrip('/')}/crm.lead.get.json", params={"id": lead_id})
            body = response.json()
        except (httpx.HTTPError, ValueError):
            raise IntakeError(502, "bitrix24_unavailable", "Bitrix24 did not answer crm.lead.get") from None
        result = body.get("result") if isinstance(body, dict) else None
        if response.status_code != 200 or not isinstance(result, dict):
            error = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
            raise IntakeError(
                502,
                "bitrix24_refused",
                f"Bitrix24 answered crm.lead.get with {response.status_code}: {str(error)[:200]}",
            )
        return result
