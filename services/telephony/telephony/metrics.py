"""Metrics of the telephony service, next to the hub's own (crmhub.metrics)."""

from prometheus_client import Counter

CALL_EVENTS = Counter(
    "telephony_call_events_total",
    "Provider requests applied to calls (stored, or repeated with nothing new)",
    ["provider", "outcome"],
)
CALL_REFUSED = Counter(
    "telephony_requests_refused_total", "Provider requests refused, by HTTP status", ["provider", "status"]
)
CALLBACKS = Counter(
    "telephony_callbacks_total", "Missed-call obligations opened, fulfilled by a call back, or overdue", ["outcome"]
)
