# Campaign KPI Streams: developer entry points.
#   make setup          .venv from the lock file (requirements-dev.lock), the project on top
#   make lock           re-resolve the lock files from pyproject.toml (pip-compile, hashes)
#   make services       Kafka (KRaft) + Redis + Prometheus on loopback, without Docker
#   make services-down  stop them; make services-status  show them
#   make lint           ruff, mypy --strict, import-linter
#   make test           lint, services, then the whole pytest suite against the real services
#   make demo           the end-to-end demo: worker + simulator + live terminal view
#   make chaos          the long fault scenarios (minutes each), with a one-line summary each
#   make fuzz           the decode/engine/dead-letter fuzz target and the replay of input at
#                       the contract's bounds, longer (FUZZ_EXAMPLES=N, BOUNDS_EXAMPLES=N)
#   make bench          ceiling vs naive Faust vs the worker, and freshness (EVENTS=N, BENCH_ARGS=...)
#   make bench-state    RSS and live state topic size per simulated day: 2M events, 60 days, 20
#                       campaigns (STATE_ARGS="--events N --days D --campaigns C ...")
#   make bench-restore  restore time and memory, fresh and after rewrites (SETS=N, REWRITES=R, ...)
#   make report-screenshot  a PNG of a report page by headless Chromium (REPORT=, OUT=, SELECTOR=)
# KAFKA_NODES=3 make services starts a 3-node KRaft cluster instead of one node.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV        := .venv
BIN         := $(VENV)/bin
SETUP_STAMP := $(VENV)/.setup-stamp
SERVICES    := scripts/services.sh
SERVICES_ENV := .local/services.env
# Only the source trees that exist yet (mypy fails on a missing path).
LINT_PATHS  := $(wildcard streams tests benchmarks)

.PHONY: help setup lock services services-down services-status lint test chaos fuzz demo bench \
	bench-state bench-restore report-screenshot

help:
	@sed -n 's/^#   //p' $(firstword $(MAKEFILE_LIST))

setup: $(SETUP_STAMP)

$(SETUP_STAMP): pyproject.toml requirements-dev.lock
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --require-hashes -r requirements-dev.lock
	$(BIN)/pip install -q --no-deps -e .
	touch $@

# Both lock files from pyproject.toml: the runtime one (the Dockerfile's) and the dev one.
lock: setup
	$(BIN)/pip-compile -q --strip-extras --generate-hashes --allow-unsafe \
		-o requirements.lock pyproject.toml
	$(BIN)/pip-compile -q --strip-extras --generate-hashes --allow-unsafe --extra dev \
		-o requirements-dev.lock pyproject.toml

services:
	@$(SERVICES) up

services-down:
	@$(SERVICES) down

services-status:
	@$(SERVICES) status

lint: setup
	$(BIN)/ruff check $(LINT_PATHS)
	$(BIN)/mypy $(LINT_PATHS)
	$(BIN)/lint-imports

test: setup
	$(MAKE) lint
	$(MAKE) services
	source $(SERVICES_ENV) && $(BIN)/pytest --durations=40

# The long variants of the fault suite (tests/faults): more workers, kills, records.
chaos: setup services
	source $(SERVICES_ENV) && KPI_CHAOS=1 $(BIN)/pytest tests/faults -q -p no:randomly \
		-k test_faults_change_no_output

FUZZ_EXAMPLES ?= 200000
BOUNDS_EXAMPLES ?= 1000
fuzz: setup
	KPI_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) KPI_BOUNDS_EXAMPLES=$(BOUNDS_EXAMPLES) \
		$(BIN)/pytest tests/fuzz tests/oracle/test_bounds_property.py -q

# The end-to-end demo: a worker and the simulator against the services, live KPIs in the
# terminal until Ctrl-C (DEMO_SECONDS=N stops it after N seconds). See README, "Demo".
demo: setup services
	source $(SERVICES_ENV) && exec $(BIN)/campaign-kpi demo

bench: setup services
	$(BIN)/python benchmarks/bench.py $(if $(EVENTS),--events $(EVENTS)) $(BENCH_ARGS)

# Bounded state over weeks of event time (benchmarks/state_bench.py; benchmarks/README.md).
bench-state: setup services
	$(BIN)/python benchmarks/state_bench.py $(STATE_ARGS)

# On a broker of its own, run from the Kafka jars `make services` fetched. See
# benchmarks/README.md, "restore_bench.py": the full size takes ~7 GB of disk.
bench-restore: setup services
	$(BIN)/python benchmarks/restore_bench.py $(if $(SETS),--sets $(SETS)) \
		$(if $(REWRITES),--rewrites $(REWRITES)) $(BENCH_ARGS)

# A PNG of a campaign report's page, taken by the system's headless Chromium through
# Playwright (never a downloaded browser). See README, "Campaign report".
REPORT   ?= report.html
OUT      ?= docs/report-screenshot.png
report-screenshot: setup
	$(BIN)/python -m streams.report.screenshot $(REPORT) $(OUT) $(if $(SELECTOR),--selector '$(SELECTOR)')
