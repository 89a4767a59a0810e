"""Authentication, normalization and spam rules of the intake, and the rate limiter."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from crmhub.intake import IntakeError, Received, sign_timestamped
from crmhub.rate_limit import RateLimiter
from leads.adapters.auth import sign_typeform, verify
from leads.adapters.formats.canonical import LeadInput
from leads.adapters.sources import Source, SourcesConfig, load_sources
from leads.domain.submission import Blocklist, InvalidSubmission, normalize, spam_reason

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


def _received(headers: dict[str, str], query: dict[str, str], body: bytes) -> Received:
    return Received(method="POST", url="http://hub/v1/intake/site", headers=headers, query=query, body=body)


def _source(auth: dict) -> Source:
    return Source.model_validate({"id": "site", "format": "json", "auth": auth})


def test_api_key_in_header_or_query_parameter():
    source = _source({"type": "api_key", "secret": "s3cret-key-123"})
    verify(source, _received({"x-api-key": "s3cret-key-123"}, {}, b""), now=NOW)
    verify(source, _received({}, {"api_key": "s3cret-key-123"}, b""), now=NOW)
    with pytest.raises(IntakeError, match="wrong API key"):
        verify(source, _received({"x-api-key": "guess"}, {}, b""), now=NOW)
    with pytest.raises(IntakeError, match="missing API key"):
        verify(source, _received({}, {}, b""), now=NOW)


def test_hmac_signature_over_timestamp_and_body_within_five_minutes():
    source = _source({"type": "hmac", "secret": "hmac-secret-123"})
    body = b'{"phone": "+79120000000"}'
    stamp = int(NOW.timestamp())
    verify(source, _received({"x-signature": sign_timestamped("hmac-secret-123", stamp, body)}, {}, body), now=NOW)
    with pytest.raises(IntakeError, match="does not match"):
        verify(
            source,
            _received({"x-signature": sign_timestamped("hmac-secret-123", stamp, body)}, {}, body + b" "),
            now=NOW,
        )
    with pytest.raises(IntakeError, match="window"):
        verify(
            source,
            _received({"x-signature": sign_timestamped("hmac-secret-123", stamp - 301, body)}, {}, body),
            now=NOW,
        )
    with pytest.raises(IntakeError, match="malformed"):
        verify(source, _received({"x-signature": "v1=abc"}, {}, body), now=NOW)


def test_typeform_signature_is_base64_hmac_of_the_body():
    source = _source({"type": "typeform", "secret": "typeform-secret"})
    body = b'{"event_type": "form_response"}'
    verify(source, _received({"typeform-signature": sign_typeform("typeform-secret", body)}, {}, body), now=NOW)
    with pytest.raises(IntakeError):
        verify(source, _received({"typeform-signature": sign_typeform("other", body)}, {}, body), now=NOW)


def test_production_refuses_demo_or_missing_secrets(tmp_path, monkeypatch):
    config = tmp_path / "sources.json"
    config.write_text('{"sources": [{"id": "site", "format": "json", "auth": {"secret": "demo-key"}}]}')
    assert load_sources(str(config), environment="demo").by_id("site") is not None
    with pytest.raises(ValueError, match="real secret"):
        load_sources(str(config), environment="production")
    config.write_text('{"sources": [{"id": "site", "format": "json", "auth": {"secret_env": "SITE_KEY"}}]}')
    with pytest.raises(ValueError, match="real secret"):
        load_sources(str(config), environment="production")
    monkeypatch.setenv("SITE_KEY", "a-long-random-production-key")
    assert (
        load_sources(str(config), environment="production").by_id("site").auth.resolved_secret()
        == "a-long-random-production-key"
    )
    with pytest.raises(ValidationError, match="unique"):
        SourcesConfig.model_validate({"sources": [{"id": "a", "format": "json", "auth": {"secret": "x"}}] * 2})


def _normalize(**fields):
    return normalize(
        LeadInput.model_validate(fields), source_id="site", channel="api", received_at=NOW, phone_region="RU"
    )


def test_a_lead_needs_a_valid_phone_or_email_and_the_error_names_both():
    with pytest.raises(InvalidSubmission) as error:
        _normalize(name="Nobody")
    assert error.value.fields == ["phone", "email"]
    with pytest.raises(InvalidSubmission, match="phone is not a valid phone number; email is not a valid e-mail"):
        _normalize(phone="12", email="nope")
    submission = _normalize(phone="12", email="Ok@Example.com")
    assert submission.contact.email == "ok@example.com"
    assert submission.contact.phone is None
    assert submission.phone_raw == "12"


def test_identical_payloads_share_a_fingerprint():
    assert (
        _normalize(phone="+79120000000", message="a").fingerprint()
        == _normalize(phone="8 912 000-00-00", message="a").fingerprint()
    )
    assert (
        _normalize(phone="+79120000000", message="a").fingerprint()
        != _normalize(phone="+79120000000", message="b").fingerprint()
    )


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"phone": {"$gt": ""}}, "valid string"),
        ({"custom": {"$where": "1"}}, "not allowed"),
        ({"custom": {"a.b": "1"}}, "not allowed"),
        ({"custom": {"nested": {"x": 1}}}, "custom"),
        ({"name": "x" * 10_000}, "at most 200"),
        ({"utm": {"source": "x", "evil": 1}}, "Extra inputs"),
        ({"surprise": 1}, "Extra inputs"),
    ],
)
def test_hostile_or_oversized_fields_are_refused(fields, message):
    with pytest.raises(ValidationError, match=message):
        LeadInput.model_validate({"phone": "+79120000000", **fields})


def test_spam_by_honeypot_and_blocklists():
    blocklist = Blocklist(
        phones=frozenset({"+79990000000"}), emails=frozenset({"bot@example.com"}), domains=frozenset({"spam.example"})
    )
    assert spam_reason(_normalize(phone="+79120000000"), honeypot_value="http://x", blocklist=blocklist) == "honeypot"
    assert spam_reason(_normalize(phone="+79990000000"), honeypot_value="", blocklist=blocklist) == "blocked_phone"
    assert spam_reason(_normalize(email="bot@example.com"), honeypot_value=None, blocklist=blocklist) == "blocked_email"
    assert spam_reason(_normalize(email="x@spam.example"), honeypot_value=None, blocklist=blocklist) == "blocked_domain"
    assert spam_reason(_normalize(email="x@fine.example"), honeypot_value=None, blocklist=blocklist) is None


def test_rate_limiter_allows_a_burst_then_the_steady_rate():
    clock = [0.0]
    limiter = RateLimiter(per_minute=3, clock=lambda: clock[0])
    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(20.0)
    assert limiter.acquire("b") == 0.0
    clock[0] += 20
    assert limiter.acquire("a") == 0.0


def test_rate_limiter_memory_stays_bounded():
    limiter = RateLimiter(per_minute=60, clock=time.monotonic, max_keys=100)
    for i in range(1000):
        limiter.acquire(f"ip-{i}")
    assert len(limiter._buckets) <= 100
