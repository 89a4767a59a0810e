from __future__ import annotations

from leads.settings import LeadsSettings
from motivation.settings import MotivationSettings


def test_one_variable_points_every_service_at_the_servers_and_a_prefixed_one_overrides(monkeypatch):
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "kafka.internal:9092")
    monkeypatch.setenv("MONGODB_URL", "mongodb://db.internal:27017/")
    monkeypatch.setenv("LEADS_KAFKA_BOOTSTRAP_SERVERS", "leads-kafka:9092")
    assert LeadsSettings().kafka_bootstrap_servers == "leads-kafka:9092"
    assert MotivationSettings().kafka_bootstrap_servers == "kafka.internal:9092"
    assert MotivationSettings().mongodb_url == "mongodb://db.internal:27017/"


def test_each_service_has_its_own_port_database_and_prefix(monkeypatch):
    monkeypatch.setenv("MOTIVATION_HTTP_PORT", "9999")
    monkeypatch.setenv("LEADS_MONGODB_DATABASE", "leads_prod")
    assert MotivationSettings().http_port == 9999
    assert MotivationSettings().database_name == "crm_motivation"
    assert LeadsSettings().http_port == 8001
    assert LeadsSettings().database_name == "leads_prod"
