"""The deals service. Runs the sales pipeline: deals, tasks and business-process rules."""
