"""JSON logs, one object a line, carrying the event id being handled and never a raw phone
number or e-mail address."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from prometheus_client import Counter

from crmhub.contacts import mask_contacts

current_event_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_event_id", default=None)
current_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("current_request_id", default=None)

LOG_LINES_HELD_BACK = Counter(
    "crmhub_log_lines_held_back_total", "Repeated warning and error lines held back from the log", ["logger"]
)
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": mask_contacts(record.getMessage()),
        }
        if (event_id := current_event_id.get()) is not None:
            entry["event_id"] = event_id
        if (request_id := current_request_id.get()) is not None:
            entry["request_id"] = request_id
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = _masked(value)
        if record.exc_info:
            entry["error"] = mask_contacts(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


def _masked(value: Any) -> Any:
    if isinstance(value, str):
        return mask_contacts(value)
    if isinstance(value, dict):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(v) for v in value]
    return value


@dataclass
class _Repeats:
    since: float
    lines: int = 1
    held_back: int = 0


class RepeatLimit(logging.Filter):
    """Warnings and errors that repeat (a broker that is down makes every client log the same
    line hundreds of times a second) pass `per_window` times per `window` seconds; the rest are
    held back and counted (`crmhub_log_lines_held_back_total`), and the next line of the kind
    after the window says how many were (`repeats_held_back`). Info and debug lines pass."""

    def __init__(
        self, *, per_window: int = 5, window: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.per_window = per_window
        self.window = window
        self.clock = clock
        self.seen: dict[tuple[str, str], _Repeats] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, str(record.msg))
        now = self.clock()
        state = self.seen.get(key)
        if state is None or now - state.since >= self.window:
            if len(self.seen) > 1000:
                self.seen.clear()
            self.seen[key] = _Repeats(since=now)
            if state is not None and state.held_back:
                record.repeats_held_back = state.held_back
            return True
        state.lines += 1
        if state.lines <= self.per_window:
            return True
        state.held_back += 1
        LOG_LINES_HELD_BACK.labels(record.name).inc()
        return False


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(RepeatLimit())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "pymongo", "faststream", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
