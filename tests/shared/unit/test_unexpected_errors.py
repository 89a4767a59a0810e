"""A bug is never silent: an unexpected exception in a route is answered as a JSON 500 and put on
record with its traceback (the 4xx answers for bad input are tested with each intake)."""

from __future__ import annotations

import logging

import httpx
from fastapi import FastAPI

from crmhub.web import install


async def test_an_unexpected_error_is_a_json_500_on_record_with_its_traceback(caplog):
    app = FastAPI()
    install(app, max_body_bytes=1024)

    @app.get("/broken")
    async def broken() -> None:
        raise RuntimeError("the positional operator did not find the match")

    transport = httpx.ASGITransport(app, raise_app_exceptions=False)
    with caplog.at_level(logging.ERROR, logger="crmhub.web"):
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as http:
            answer = await http.get("/broken")
    assert answer.status_code == 500
    assert answer.json()["error"] == "internal"
    (record,) = [r for r in caplog.records if r.name == "crmhub.web"]
    assert "GET /broken" in record.getMessage()
    assert record.exc_info is not None
    assert "positional operator" in str(record.exc_info[1])
