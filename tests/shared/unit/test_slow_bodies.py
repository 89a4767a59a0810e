"""A client that trickles its body in is answered 408 and let go after the body timeout, instead
of holding the request (and a worker's memory) for as long as it likes."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import FastAPI

from crmhub.web import BodyLimitMiddleware


async def test_a_body_that_does_not_arrive_in_time_is_a_408():
    reached: list[bool] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(True)

    middleware = BodyLimitMiddleware(app, max_bytes=1024, timeout=0.2)
    sent: list[dict[str, Any]] = []
    parts = iter([{"type": "http.request", "body": b"{", "more_body": True}])

    async def receive() -> dict[str, Any]:
        part = next(parts, None)
        if part is None:
            await asyncio.Event().wait()  # the client sends nothing more
        return part  # type: ignore[return-value]

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "method": "POST", "headers": [(b"content-type", b"application/json")]}
    await asyncio.wait_for(middleware(scope, receive, send), timeout=5)
    assert sent[0]["status"] == 408
    assert (b"connection", b"close") in sent[0]["headers"]
    assert b"did not arrive within 0.2 s" in sent[1]["body"]
    assert reached == []  # the application never saw the half body


def test_the_service_installs_the_body_timeout_it_is_configured_with():
    from crmhub.web import install

    app = FastAPI()
    install(app, max_body_bytes=10, body_timeout=7)
    limits = [m for m in app.user_middleware if m.cls is BodyLimitMiddleware]
    assert limits[0].kwargs == {"max_bytes": 10, "timeout": 7}
