# The two commands: `make run` (the whole hub with a demo configuration) and `make test`
# (lint, types, unit, integration and end-to-end tests against real Kafka and MongoDB-wire).
# Both provision what is missing first (cached in ~/.cache/crm-hub; a second run fetches nothing).

SHELL := /bin/bash
PY := .venv/bin/python
export PYTHONPATH := shared:services/leads:services/telephony:services/deals:services/motivation:services/notifier:deploy/local
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test provision lint typecheck unit pytest bench fmt compose-check clean-data demo-activity chaos soak

run: provision
	$(PY) deploy/local/run_hub.py

test: provision lint typecheck pytest

provision:
	@bash deploy/local/provision.sh

lint:
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	.venv/bin/lint-imports

typecheck:
	$(PY) -m mypy shared services deploy/local bench

pytest:
	$(PY) -m pytest $(PYTEST_ARGS)

unit: provision
	$(PY) -m pytest -m "not integration and not e2e" $(PYTEST_ARGS)

bench: provision
	$(PY) bench/run_bench.py $(BENCH_ARGS)

chaos: provision
	$(PY) bench/chaos.py --write $(CHAOS_ARGS)

soak: provision
	$(PY) bench/soak.py --write $(SOAK_ARGS)

fmt: provision
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# Four months of synthetic calls and deals by the demo team, for the motivation demo (README).
demo-activity: provision
	$(PY) deploy/local/demo_activity.py

clean-data:
	rm -rf .data
