"""`make run`'s own settings: CRMHUB_REPLICAS runs more instances of a service."""

from __future__ import annotations

import pytest

from localservers import SERVICES, ProvisioningError
from run_hub import replicas


def test_every_service_runs_once_unless_more_instances_are_named():
    assert replicas("") == dict.fromkeys(SERVICES, 1)
    assert replicas(" leads=2, notifier=3 ") == {**dict.fromkeys(SERVICES, 1), "leads": 2, "notifier": 3}


@pytest.mark.parametrize("setting", ["leads", "leads=0", "leads=10", "leads=two", "billing=2"])
def test_a_replica_count_that_makes_no_sense_stops_the_launcher_naming_it(setting):
    with pytest.raises(ProvisioningError, match="CRMHUB_REPLICAS"):
        replicas(setting)
