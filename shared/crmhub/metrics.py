"""Prometheus metrics every service exposes at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter("crmhub_http_requests_total", "HTTP requests answered", ["method", "route", "status"])
HTTP_LATENCY = Histogram(
    "crmhub_http_request_seconds",
    "HTTP request handling time",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
EVENTS_CONSUMED = Counter(
    "crmhub_events_consumed_total", "Events handled by a consumer", ["topic", "group", "type", "outcome"]
)
EVENT_HANDLING = Histogram(
    "crmhub_event_handling_seconds",
    "Time to handle one consumed event",
    ["topic", "group"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5),
)
EVENTS_DEAD_LETTERED = Counter(
    "crmhub_events_dead_lettered_total", "Messages sent to a dead-letter topic", ["topic", "group", "reason"]
)
CONSUMER_RETRIES = Counter(
    "crmhub_consumer_retries_total", "Handler attempts that failed and were retried", ["topic", "group", "kind"]
)
EVENTS_PUBLISHED = Counter("crmhub_events_published_total", "Events relayed from an outbox to Kafka", ["topic", "type"])
READ_MODEL_EVENTS = Counter(
    "crmhub_read_model_events_total", "Events applied to a local read model", ["topic", "outcome"]
)
READ_MODEL_READY = Gauge("crmhub_read_model_caught_up", "1 once a read model has read its topic to the end", ["topic"])
TIMERS_SCHEDULED = Counter("crmhub_timers_scheduled_total", "Durable timers scheduled (or moved)", ["kind"])
TIMERS_FIRED = Counter(
    "crmhub_timers_fired_total",
    "Durable timer firings by outcome (fired, failed and retried later)",
    ["kind", "outcome"],
)
TIMER_LATENESS = Histogram(
    "crmhub_timer_lateness_seconds",
    "How late a timer fired after its due time",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
DEPENDENCY_UP = Gauge(
    "crmhub_dependency_up", "1 while the service's own client reaches the dependency (mongodb, kafka)", ["dependency"]
)
GC_PAUSE = Histogram(
    "crmhub_gc_pause_seconds",
    "Time the process stood still in one collection of Python's cyclic garbage collector",
    ["generation"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5),
)
GC_THRESHOLD = Gauge(
    "crmhub_gc_threshold",
    "New objects (generation 0) or younger collections (1, 2) after which the cyclic collector runs a generation",
    ["generation"],
)
GC_FROZEN = Gauge(
    "crmhub_gc_frozen_objects", "Objects of the started service left out of every garbage collection (gc.freeze)"
)
