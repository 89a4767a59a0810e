"""Use cases of the deals service, one function each with dependencies passed in (see
docs/architecture.md). Empty until the deal pipeline is built."""
