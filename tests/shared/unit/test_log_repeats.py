"""A flood of the same error (a broker that is down) does not flood the log: five lines per
window, then one that says how many were held back; different errors and info lines pass."""

from __future__ import annotations

import logging

from crmhub.logs import RepeatLimit


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(message: str, level: int = logging.ERROR, name: str = "aiokafka") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, (), None)


def test_a_repeated_error_passes_five_times_a_window_then_says_how_many_were_held_back():
    clock = Clock()
    limit = RepeatLimit(per_window=5, window=10.0, clock=clock)
    passed = [limit.filter(record("Unable connect to node %s")) for _ in range(200)]
    assert passed.count(True) == 5
    assert limit.filter(record("another failure")) is True
    assert limit.filter(record("Unable connect to node %s", logging.INFO)) is True
    clock.now = 10.5
    summary = record("Unable connect to node %s")
    assert limit.filter(summary) is True
    assert summary.repeats_held_back == 195  # type: ignore[attr-defined]
    fresh = record("Unable connect to node %s")
    assert limit.filter(fresh) is True
    assert not hasattr(fresh, "repeats_held_back")
