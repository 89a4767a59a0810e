"""Pure rules of the deals service (no I/O): the deal aggregate, pipelines and the business-process
rule engine, as the other services' domain packages are. Empty until the deal pipeline is built."""
