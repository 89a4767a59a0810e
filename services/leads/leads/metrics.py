"""Metrics of the leads service, next to the hub's own (crmhub.metrics)."""

from prometheus_client import Counter

LEADS_RECEIVED = Counter(
    "leads_received_total",
    "Submissions taken in, by outcome (created, merged into an open lead, repeated)",
    ["source", "outcome"],
)
LEADS_REFUSED = Counter("leads_refused_total", "Intake requests refused, by HTTP status", ["source", "status"])
LEADS_SPAM = Counter("leads_spam_total", "Submissions recognised as spam and discarded", ["source", "reason"])
LEADS_TAKEN = Counter(
    "leads_taken_total", "Leads taken into work, and whether within the first-response SLA", ["source", "within_sla"]
)
SLA_BREACHES = Counter("leads_sla_breaches_total", "First-response SLA breaches (each one escalates)", ["source"])
