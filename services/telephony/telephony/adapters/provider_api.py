"""The providers' own APIs, as far as the hub calls them.

Recordings kept at the provider: a fresh link is asked for through the provider's documented
API each time somebody opens one (the links expire), so the hub stores only the recording's id.
Routing a call (Mango Office): `POST /vpbx/commands/route` with {"command_id", "call_id",
"to_number"} sends a call waiting in the voice menu to an extension.

Zadarma: `GET /v1/pbx/record/request/?call_id=<call_id_with_rec>` signed as its API documents
(`Authorization: <key>:<base64(hex HMAC-SHA1(method + params + md5(params), secret))>`), answered
`{"status": "success", "link": …}`. Mango Office: `POST /vpbx/queries/recording/post/` with
`vpbx_api_key`, `sign` and `json` = {"recording_id", "action": "play"}, answered with a redirect
to the file.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import urlencode

import httpx

from telephony.adapters.formats import mango
from telephony.adapters.providers import Provider

ZADARMA_API = "https://api.zadarma.com"
MANGO_API = "https://app.mango-office.ru/vpbx"


class CommandFailed(Exception):
    """The provider did not accept a command."""


class RecordingUnavailable(Exception):
    """The provider did not give a link (not configured, not ready yet, or refused)."""


def zadarma_authorization(key: str, secret: str, method: str, params: dict[str, str]) -> str:
    query = urlencode(sorted(params.items()))
    digest = hmac.new(
        secret.encode(),
        (method + query + hashlib.md5(query.encode(), usedforsecurity=False).hexdigest()).encode(),
        hashlib.sha1,
    ).hexdigest()
    return f"{key}:{base64.b64encode(digest.encode()).decode()}"


class ProviderApi:
    def __init__(self, timeout: float = 10.0) -> None:
        self._timeout = timeout

    async def link(self, provider: Provider, recording_id: str) -> str:
        secret = provider.resolved_secret()
        if not provider.key or not secret:
            raise RecordingUnavailable(f"provider {provider.id} has no API key and secret to fetch recordings with")
        try:
            async with httpx.AsyncClient(timeout=self._timeout, follow_redirects=False) as client:
                if provider.format == "zadarma":
                    return await self._zadarma(client, provider, provider.key, secret, recording_id)
                if provider.format == "mango":
                    return await self._mango(client, provider, provider.key, secret, recording_id)
        except httpx.HTTPError as exc:
            raise RecordingUnavailable(f"provider {provider.id} did not answer: {type(exc).__name__}") from None
        raise RecordingUnavailable(f"provider {provider.id} ({provider.format}) keeps no recordings by id")

    async def route(self, provider: Provider, *, call_id: str, extension: str, command_id: str) -> None:
        """Mango: send the call (Mango's `call_id` of events/call) to an extension."""
        secret = provider.resolved_secret()
        if provider.format != "mango" or not provider.key or not secret:
            raise CommandFailed(f"provider {provider.id} cannot be commanded to route calls")
        payload = json.dumps({"command_id": command_id, "call_id": call_id, "to_number": extension})
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(
                    (provider.api_url or MANGO_API).rstrip("/") + "/commands/route",
                    data={
                        "vpbx_api_key": provider.key,
                        "sign": mango.sign(provider.key, payload, secret),
                        "json": payload,
                    },
                )
        except httpx.HTTPError as exc:
            raise CommandFailed(f"Mango Office did not answer: {type(exc).__name__}") from None
        if response.status_code != 200:
            raise CommandFailed(f"Mango Office answered {response.status_code} to commands/route")

    async def _zadarma(self, client: httpx.AsyncClient, provider: Provider, key: str, secret: str, rec: str) -> str:
        method = "/v1/pbx/record/request/"
        params = {"call_id": rec, "format": "json"}
        response = await client.get(
            (provider.api_url or ZADARMA_API).rstrip("/") + method,
            params=sorted(params.items()),
            headers={"Authorization": zadarma_authorization(key, secret, method, params)},
        )
        try:
            body = response.json()
        except ValueError:
            body = {}
        link = body.get("link") if isinstance(body, dict) else None
        if response.status_code != 200 or body.get("status") != "success" or not isinstance(link, str):
            raise RecordingUnavailable(f"Zadarma answered {response.status_code}: {str(body.get('message', ''))[:200]}")
        return link

    async def _mango(self, client: httpx.AsyncClient, provider: Provider, key: str, salt: str, rec: str) -> str:
        payload = json.dumps({"recording_id": rec, "action": "play"})
        response = await client.post(
            (provider.api_url or MANGO_API).rstrip("/") + "/queries/recording/post/",
            data={"vpbx_api_key": key, "sign": mango.sign(key, payload, salt), "json": payload},
        )
        location = response.headers.get("location")
        if response.status_code not in (301, 302, 303, 307) or not location:
            raise RecordingUnavailable(f"Mango Office answered {response.status_code} without a link")
        return str(location)
