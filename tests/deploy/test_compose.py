"""docker-compose.yml cannot run here (no Docker engine), so it is checked two ways: against
the Compose Specification schema, and against `make run`: the same processes, the same
settings, the same ports; Prometheus scrapes them all and the dashboard charts real metrics."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

import crmhub.metrics  # noqa: F401  (registers the hub's metrics)
from localservers import SERVICES, read_env_file, service_command

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    checker = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_file_follows_the_compose_specification():
    result = _validate(COMPOSE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_does_reject_a_broken_compose_file(tmp_path):
    broken = tmp_path / "docker-compose.yml"
    broken.write_text("services:\n  leads:\n    ports: 8001\n    restart: sometimes\n")
    assert _validate(broken).returncode != 0


PEER_ADDRESSES = {
    "deals": ("DEALS_PUBLIC_URL",),
    "notifier": ("NOTIFIER_SMTP_HOST", "NOTIFIER_SMTP_PORT", "NOTIFIER_ATTACHMENT_ORIGINS"),
}


@pytest.mark.parametrize("name", list(SERVICES))
def test_each_service_runs_the_same_process_with_the_same_settings_as_make_run(compose, name):
    service = compose["services"][name]
    assert service["command"] == service_command(name)
    assert service["build"]["target"] == name
    assert service["env_file"] == ["deploy/demo/hub.env"]
    # only where things are differs from make run: the servers, the issuer, and per service
    # the addresses of its peers (the mailbox, the links between deals and the notifier)
    assert set(service["environment"]) == {
        "KAFKA_BOOTSTRAP_SERVERS",
        "MONGODB_URL",
        "CRMHUB_AUTH_ISSUER",
        "CRMHUB_AUTH_JWKS_URL",
        "CRMHUB_FORWARDED_ALLOW_IPS",
        *PEER_ADDRESSES.get(name, ()),
    }
    assert service["environment"]["CRMHUB_AUTH_JWKS_URL"].startswith(service["environment"]["CRMHUB_AUTH_ISSUER"])
    assert service["ports"] == [f"{SERVICES[name]}:{SERVICES[name]}"]
    assert service["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert service["depends_on"]["mongodb"]["condition"] == "service_healthy"


def test_the_demo_settings_file_only_names_settings_the_services_read():
    from crmhub.settings import HubSettings
    from support.settings import settings_class

    for key in read_env_file(ROOT / "deploy" / "demo" / "hub.env"):
        prefix, _, field = key.partition("_")
        assert prefix in {"CRMHUB", *(n.upper() for n in SERVICES)}, key
        settings = HubSettings if prefix == "CRMHUB" else settings_class(prefix.lower())
        assert field.lower() in settings.model_fields, f"{key} is not a setting of {prefix.lower()}"


def test_the_dockerfile_has_a_target_per_service_starting_it_on_its_port():
    dockerfile = (ROOT / "Dockerfile").read_text()
    for name, port in SERVICES.items():
        stage = re.search(rf"FROM base AS {name}\n(.*?)(?=\nFROM |\Z)", dockerfile, re.S)
        assert stage, f"no Dockerfile target for {name}"
        assert f"ENV SERVICE_PORT={port}" in stage.group(1)
        assert f"CMD {json.dumps(service_command(name))}" in stage.group(1)


def test_prometheus_scrapes_every_service(compose):
    config = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {t for job in config["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    assert targets == {f"{name}:{port}" for name, port in SERVICES.items()}
    assert "prometheus" in compose["services"]


def test_the_grafana_dashboard_charts_metrics_the_hub_exports():
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "dashboards" / "hub.json").read_text())
    exported = {metric.name for metric in REGISTRY.collect()} | {"up"}
    used = set()
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            used |= {
                m.removesuffix("_bucket").removesuffix("_total")
                for m in re.findall(r"\b(crmhub_\w+|up)\b", target["expr"])
            }
    assert used, "the dashboard charts nothing"
    assert used <= exported, f"the dashboard charts unknown metrics: {used - exported}"


def test_one_front_door_routes_each_service_under_its_prefix_with_limits(compose):
    proxy = compose["services"]["proxy"]
    assert proxy["ports"] == ["80:80", "443:443"]
    assert (
        proxy["networks"]["default"]["ipv4_address"]
        == compose["services"]["leads"]["environment"]["CRMHUB_FORWARDED_ALLOW_IPS"]
    )
    conf = (ROOT / "deploy" / "proxy" / "nginx.conf").read_text()
    for name, port in SERVICES.items():
        assert f"upstream {name:<10} {{ server {name}:{port}; }}" in conf
        assert f"location /{name}/" in conf
    for limit in (
        "client_max_body_size",
        "client_header_timeout",
        "client_body_timeout",
        "limit_conn per_client",
        "ssl_certificate ",
    ):
        assert limit in conf, limit


def test_the_kafka_sasl_overlay_signs_every_service_in_and_gives_the_subscriber_read_only_access(compose):
    path = ROOT / "deploy" / "kafka-sasl" / "docker-compose.sasl.yml"
    result = _validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    overlay = yaml.safe_load(path.read_text())
    for name in SERVICES:
        login = overlay["services"][name]["environment"]
        assert (login["KAFKA_SECURITY_PROTOCOL"], login["KAFKA_SASL_USERNAME"]) == ("SASL_PLAINTEXT", "hub-services")
        assert set(login) <= {
            f"KAFKA_{k}" for k in ("SECURITY_PROTOCOL", "SASL_MECHANISM", "SASL_USERNAME", "SASL_PASSWORD")
        }
    kafka = overlay["services"]["kafka"]["environment"]
    assert kafka["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    assert (
        "SETUP://127.0.0.1:" in kafka["KAFKA_LISTENERS"]
    )  # the unauthenticated listener is the broker's own loopback only
    setup = overlay["services"]["kafka-setup"]["command"][0]
    assert "--allow-principal User:subscriber --operation Read --operation Describe --topic crm.leads" in setup
    assert "User:subscriber --operation Write" not in setup
