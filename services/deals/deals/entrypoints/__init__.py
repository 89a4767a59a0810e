"""HTTP routes per resource, Kafka subscribers and timers of the deals service: translate and hand
on. Empty until the deal pipeline is built."""
