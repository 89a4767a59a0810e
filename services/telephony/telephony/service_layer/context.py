"""What the telephony use cases work with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from crmhub.team_directory import TeamDirectory
from telephony.adapters.call_store import CallStore
from telephony.adapters.provider_api import ProviderApi
from telephony.adapters.providers import ProvidersConfig


@dataclass
class Telephony:
    store: CallStore
    directory: TeamDirectory
    providers: ProvidersConfig
    settle_after: timedelta
    now: Callable[[], datetime]
    # how this service is reached from outside: the recordings' links point here
    public_url: str
    provider_api: ProviderApi
