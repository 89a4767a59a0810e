"""Builds the telephony use-case context: real stores from `app.py`, in-memory fakes in unit tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from crmhub.team_directory import TeamDirectory
from telephony.adapters.call_store import CallStore
from telephony.adapters.provider_api import ProviderApi
from telephony.adapters.providers import ProvidersConfig
from telephony.service_layer.context import Telephony


def bootstrap(
    *,
    store: CallStore,
    directory: TeamDirectory,
    providers: ProvidersConfig,
    settle_after: timedelta = timedelta(seconds=30),
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    public_url: str = "http://127.0.0.1:8002",
    provider_api: ProviderApi | None = None,
) -> Telephony:
    return Telephony(
        store=store,
        directory=directory,
        providers=providers,
        settle_after=settle_after,
        now=now,
        public_url=public_url.rstrip("/"),
        provider_api=provider_api or ProviderApi(),
    )
