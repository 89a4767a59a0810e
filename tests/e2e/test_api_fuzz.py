"""Every service's HTTP API fuzzed from its own OpenAPI document with Schemathesis (schema-based
property testing: its coverage, fuzzing and stateful phases), signed in as an administrator and,
for the intake routes, with a valid key, so generated bodies reach the parsers. Not one answer
may be a 5xx."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from support.tokens import admin_headers

pytestmark = pytest.mark.e2e
KEY = "fuzz-key-0123456789"
ST = Path(sys.executable).with_name("st")


def _configured(name: str, tmp_path: Path) -> dict[str, str]:
    if name == "leads":
        sources = {
            "sources": [
                {"id": "site", "format": "json", "auth": {"secret": KEY}},
                {"id": "form", "format": "form", "auth": {"secret": KEY}},
            ]
        }
        (tmp_path / "sources.json").write_text(json.dumps(sources))
        return {"LEADS_SOURCES_FILE": str(tmp_path / "sources.json")}
    if name == "telephony":
        providers = {"providers": [{"id": "pbx", "format": "json", "secret": KEY, "extensions": {"101": "anna"}}]}
        (tmp_path / "providers.json").write_text(json.dumps(providers))
        return {"TELEPHONY_PROVIDERS_FILE": str(tmp_path / "providers.json")}
    return {}


@pytest.mark.parametrize("name", ["leads", "telephony", "deals", "motivation", "notifier"])
def test_no_generated_request_gets_a_5xx(run_service, tmp_path, name):
    assert ST.exists() or shutil.which("st"), "schemathesis is in requirements-dev.lock"
    server = run_service(name, **_configured(name, tmp_path))
    command = [
        str(ST),
        "run",
        f"{server.address}/openapi.json",
        "--checks",
        "not_a_server_error",
        "--max-examples",
        "8",
        "--seed",
        "20261127",
        "--no-color",
        "-H",
        f"Authorization: {admin_headers()['Authorization']}",
        "-H",
        f"X-Api-Key: {KEY}",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    summary = result.stdout[-3000:]
    assert result.returncode == 0, summary
    assert " generated, " in summary
