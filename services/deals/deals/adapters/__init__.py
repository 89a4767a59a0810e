"""Thin adapters of the deals service (its MongoDB stores). Empty until the deal pipeline is built."""
