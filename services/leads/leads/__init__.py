"""The leads service. Takes in site leads, deduplicates and assigns them to the manager on duty, and watches the first-response SLA."""
