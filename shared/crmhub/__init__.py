"""The hub's own library: event envelope and schemas, topics, settings, Kafka and MongoDB
factories, the outbox relay, idempotent consumers with a dead-letter topic, logging, metrics,
health endpoints and the team-directory read model. Every service builds on it."""
