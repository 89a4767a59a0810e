"""The motivation service: owner of the team directory (departments and managers); later plans,
activity counters and payouts."""
