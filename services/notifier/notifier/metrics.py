"""Metrics of the notifier, next to the hub's own (crmhub.metrics)."""

from prometheus_client import Counter, Histogram

NOTIFICATIONS = Counter(
    "notifications_total",
    "Notifications by channel and outcome (queued, delivered, retried, failed)",
    ["channel", "outcome"],
)
DELIVERY_LATENCY = Histogram(
    "notification_delivery_seconds",
    "From the time of the event to delivery",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 3600),
)
BROKEN_TEMPLATES = Counter(
    "notification_broken_templates_total",
    "Events whose template could not render (sent to the dead-letter topic)",
    ["template", "language"],
)
