"""A small hub for the leads tests: motivation with a team of its own, and a leads process whose
sources point at that team. Everything runs as real processes against the test servers."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from localservers import RunningServer, free_port, start_service
from support.fakes import FakeHttp
from support.kafka import read_topic
from support.team import ALL_WEEK
from support.tokens import admin_headers

SECRET = "test-secret-0123456789"


def phone() -> str:
    """A fresh, valid Russian mobile number in E.164."""
    return f"+7916{random.randint(0, 9_999_999):07d}"


class LeadsHub:
    def __init__(
        self,
        kafka: str,
        mongo: str,
        workdir: Path,
        *,
        managers: int = 3,
        night_shift_hours: tuple[int, int] | None = None,
        unlimited: bool = False,
    ) -> None:
        self.kafka = kafka
        self.mongo = mongo
        self.workdir = workdir
        self.unique = uuid.uuid4().hex[:8]
        self.department = f"dept-{self.unique}"
        self.night_department = f"night-{self.unique}"
        self.board = f"board-{self.unique}"
        self.managers = [f"m{i}-{self.unique}" for i in range(managers)]
        self.head = f"head-{self.unique}"
        self.sleeper = f"sleeper-{self.unique}"
        self.database = f"t_leads_{self.unique}"
        self.motivation: RunningServer | None = None
        self.leads: RunningServer | None = None
        self._night_shift_hours = night_shift_hours
        self._unlimited = unlimited  # no rate limits on any source (the fuzzers send hundreds of requests)
        # Bitrix24's REST API (crm.lead.get), faked at the HTTP level, for its outbound events
        self.bitrix24 = FakeHttp().start()

    # --- setup ------------------------------------------------------------------------------------

    def _env(self, name: str) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka,
            "MONGODB_URL": self.mongo,
            f"{name.upper()}_MONGODB_DATABASE": f"{self.database}_{name}",
            f"{name.upper()}_ENVIRONMENT": "test",
            f"{name.upper()}_OUTBOX_POLL_SECONDS": "0.2",
        }

    def sources(self) -> dict[str, Any]:
        pool = {"department_id": self.department}
        auth = {"type": "api_key", "secret": SECRET}
        config: dict[str, Any] = {
            "sources": [
                {
                    "id": f"site-{self.unique}",
                    "format": "json",
                    "auth": auth,
                    "assignment": {"pool": pool},
                    "rate_limit_per_minute": 100000,
                    "ip_rate_limit_per_minute": 100000,
                },
                {
                    "id": f"form-{self.unique}",
                    "format": "form",
                    "auth": auth,
                    "assignment": {"pool": pool},
                    "thank_you_url": "https://example.com/thanks",
                },
                {"id": f"tilda-{self.unique}", "format": "tilda", "auth": auth, "assignment": {"pool": pool}},
                {
                    "id": f"b24-{self.unique}",
                    "format": "bitrix24",
                    "auth": {"type": "hmac", "secret": SECRET},
                    "assignment": {"pool": pool},
                },
                {
                    "id": f"tf-{self.unique}",
                    "format": "typeform",
                    "auth": {"type": "typeform", "secret": SECRET},
                    "assignment": {"pool": pool},
                },
                {"id": f"amo-{self.unique}", "format": "amocrm", "auth": auth, "assignment": {"pool": pool}},
                {"id": f"cf7-{self.unique}", "format": "cf7", "auth": auth, "assignment": {"pool": pool}},
                {
                    "id": f"b24ev-{self.unique}",
                    "format": "bitrix24_events",
                    "auth": {"type": "application_token", "secret": SECRET},
                    "rest_url_env": "LEADS_TEST_BITRIX24_REST_URL",
                    "assignment": {"pool": pool},
                },
                {
                    "id": f"slow-{self.unique}",
                    "format": "json",
                    "auth": {"type": "api_key", "secret": f"{SECRET}-slow"},
                    "assignment": {"pool": pool},
                    "sla_minutes": 0.03,
                },
                {
                    "id": f"night-{self.unique}",
                    "format": "json",
                    "auth": {"type": "api_key", "secret": f"{SECRET}-night"},
                    "assignment": {"pool": {"department_id": self.night_department}},
                },
                {
                    "id": f"nighthead-{self.unique}",
                    "format": "json",
                    "auth": {"type": "api_key", "secret": f"{SECRET}-nighthead"},
                    "assignment": {"pool": {"department_id": self.night_department}, "off_duty": "head"},
                },
                {
                    "id": f"limited-{self.unique}",
                    "format": "json",
                    "auth": {"type": "api_key", "secret": f"{SECRET}-limited"},
                    "assignment": {"pool": pool},
                    "rate_limit_per_minute": 3,
                },
                {
                    "id": f"phone-{self.unique}",
                    "format": "json",
                    "auth": {"type": "api_key", "secret": f"{SECRET}-phone"},
                    "assignment": {"pool": pool},
                    "default_product": "звонок",
                },
            ],
            "blocklist": {"domains": ["spam.example"], "phones": ["+79990000000"]},
        }
        if self._unlimited:
            for source in config["sources"]:
                source |= {"rate_limit_per_minute": 1_000_000, "ip_rate_limit_per_minute": 1_000_000}
        return config

    def start(self) -> LeadsHub:
        self.motivation = start_service(
            "motivation",
            env=self._env("motivation"),
            port=free_port(),
            log_path=self.workdir / "motivation.log",
            python=sys.executable,
        )
        with httpx.Client(base_url=self.motivation.address, timeout=10, headers=admin_headers()) as http:
            for department in (self.department, self.night_department, self.board):
                http.post(
                    "/v1/team/departments",
                    json={"id": department, "name": department, "region": "Moscow", "timezone": "Europe/Moscow"},
                ).raise_for_status()
            for manager, department in [*((m, self.department) for m in self.managers), (self.head, self.board)]:
                body = {
                    "id": manager,
                    "name": manager,
                    "department_id": department,
                    "email": f"{manager}@example.com",
                    "working_hours": ALL_WEEK,
                    "capacity": 1000,
                }
                http.post("/v1/team/managers", json=body).raise_for_status()
            night_hours = self._off_duty_hours()
            http.post(
                "/v1/team/managers",
                json={
                    "id": self.sleeper,
                    "name": "Sleeper",
                    "department_id": self.night_department,
                    "email": f"{self.sleeper}@example.com",
                    "working_hours": night_hours,
                },
            ).raise_for_status()
            http.patch(
                f"/v1/team/departments/{self.department}", json={"head_manager_id": self.head}
            ).raise_for_status()
            http.patch(
                f"/v1/team/departments/{self.night_department}", json={"head_manager_id": self.head}
            ).raise_for_status()
        keys = {f"manager:{m}".encode() for m in [*self.managers, self.head, self.sleeper]}
        asyncio.run(read_topic(self.kafka, "crm.team", until=lambda rs: keys <= {r.key for r in rs}))
        (self.workdir / "sources.json").write_text(json.dumps(self.sources()))
        self.start_leads()
        return self

    def _off_duty_hours(self) -> dict[str, list[dict[str, str]]]:
        """Working hours that do not include the next two hours (Moscow time) on any day."""
        from datetime import UTC, datetime, timedelta
        from zoneinfo import ZoneInfo

        now = datetime.now(UTC).astimezone(ZoneInfo("Europe/Moscow"))
        start = (now + timedelta(hours=3)).replace(minute=0, second=0, microsecond=0)
        end = start + timedelta(hours=1)
        interval = {"start": start.strftime("%H:%M"), "end": "00:00" if end.hour == 0 else end.strftime("%H:%M")}
        return {day: [interval] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}

    def start_leads(self) -> None:
        self.leads = self.spawn_leads()

    def spawn_leads(self) -> RunningServer:
        """Another leads process on the same database, topics and sources (an instance more)."""
        env = {
            **self._env("leads"),
            "LEADS_SOURCES_FILE": str(self.workdir / "sources.json"),
            "LEADS_TIMER_POLL_SECONDS": "0.2",
            "LEADS_PHONE_SOURCE_ID": f"phone-{self.unique}",
            "LEADS_TEST_BITRIX24_REST_URL": f"{self.bitrix24.url}/rest/1/hook-code/",
        }
        leads = start_service(
            "leads",
            env=env,
            port=free_port(),
            log_path=self.workdir / f"leads-{time.monotonic_ns()}.log",
            python=sys.executable,
        )
        deadline = time.monotonic() + 30
        while httpx.get(f"{leads.address}/ready", timeout=5).status_code != 200:
            assert time.monotonic() < deadline, httpx.get(f"{leads.address}/ready", timeout=5).text
            time.sleep(0.2)
        return leads

    def stop(self) -> None:
        self.bitrix24.stop()
        for server in (self.leads, self.motivation):
            if server is not None:
                server.stop()

    # --- use -----------------------------------------------------------------------------------------

    def source(self, name: str) -> str:
        return f"{name}-{self.unique}"

    def client(self) -> httpx.AsyncClient:
        assert self.leads is not None
        return httpx.AsyncClient(base_url=self.leads.address, timeout=15, headers=admin_headers())

    async def submit(
        self, http: httpx.AsyncClient, body: dict[str, Any], *, key: str = SECRET, headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return await http.post("/v1/leads", json=body, headers={"X-Api-Key": key, **(headers or {})})

    async def lead(self, http: httpx.AsyncClient, lead_id: str) -> dict[str, Any]:
        response = await http.get(f"/v1/leads/{lead_id}")
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result
