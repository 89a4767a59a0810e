"""Webhook subscriptions: secrets derived, never kept; a rotation's grace; what a URL may be."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from crmhub.audit import Caller
from crmhub.auth import Principal
from notifier.domain.subscriptions import ROTATION_GRACE, WebhookSubscription, derived_secret
from notifier.entrypoints.webhooks_http import _url

T0 = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
ADMIN = Caller(Principal("admin", "person", frozenset({"admin"}), None))


def test_the_secret_is_derived_not_kept_and_the_old_one_signs_through_the_grace():
    sub = WebhookSubscription(
        id="wh_0123456789abcdef", url="https://erp.example/hook", event_types=["*"], created_at=T0, updated_at=T0
    )
    first = derived_secret("key", sub.id, 1)
    assert sub.secrets("key", T0) == (first,)
    assert first not in str(sub.model_dump())
    assert first != derived_secret("other-key", sub.id, 1)
    sub.rotate(ADMIN, T0)
    second = derived_secret("key", sub.id, 2)
    assert sub.secrets("key", T0 + timedelta(hours=1)) == (second, first)
    assert sub.secrets("key", T0 + ROTATION_GRACE) == (second,)
    assert [e.type for e in sub.events] == ["audit.recorded"]
    assert sub.endpoint("key", T0).wants("lead.created", T0)
    assert not sub.endpoint("key", T0).wants("lead.created", T0 - timedelta(seconds=1))


@pytest.mark.parametrize(
    ("url", "production", "ok"),
    [
        ("https://erp.example/hook", True, True),
        ("http://erp.example/hook", True, False),
        ("http://127.0.0.1:9000/hook", False, True),
        ("https://user:pass@erp.example/hook", True, False),
        ("javascript:alert(1)", False, False),
    ],
)
def test_what_a_webhook_url_may_be(url, production, ok):
    if ok:
        assert _url(url, production=production) == url
    else:
        with pytest.raises(ValueError, match="must"):
            _url(url, production=production)
