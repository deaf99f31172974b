# SomaGent Stream. The two commands a new user needs:
#   make demo   bring the local stack up and run a real turn
#   make test   run the test suite against a real stack it starts itself
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test venv sysdeps up down status lint typecheck imports check bench clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

# The console's charting library, from npm (infra/console-assets.sh); rebuilt when the lock changes.
CONSOLE_ASSETS := somagent/webconsole/static/vendor/chart.umd.min.js
$(CONSOLE_ASSETS): infra/console/package-lock.json infra/console-assets.sh
	./infra/console-assets.sh

venv: $(STAMP) $(CONSOLE_ASSETS)

# System packages the stack needs; installed only when missing (Debian, as root or via sudo).
sysdeps:
	@./infra/sysdeps.sh

up: venv sysdeps
	$(BIN)/python -m somagent.stack.opa
	$(BIN)/somagent up

down:
	@test -x $(BIN)/somagent && $(BIN)/somagent down || true

status: venv
	$(BIN)/somagent status

demo: up
	$(BIN)/somagent status
	$(BIN)/somagent demo

test: venv sysdeps
	SOMAGENT_WITH_CLICKHOUSE_SERVER=1 SOMAGENT_WITH_BROWSER=1 ./infra/sysdeps.sh && ./infra/llm.sh && $(BIN)/python -m somagent.stack.temporal && $(BIN)/python -m somagent.stack.s3 && $(BIN)/python -m somagent.stack.jaeger && $(BIN)/python -m somagent.stack.opa && $(BIN)/pytest -q -p no:cacheprovider --durations=15

# The chaos suite and the API fuzzer, longer than in `make test`: more turns between faults,
# more generated requests per operation.
chaos: venv sysdeps
	SOMAGENT_CHAOS_TURNS=20 SOMAGENT_FUZZ_EXAMPLES=300 $(BIN)/pytest -q -p no:cacheprovider -s \
		tests/integration/chaos tests/integration/api/test_api_fuzz.py

lint: venv
	$(BIN)/ruff check somagent tests bench

typecheck: venv
	$(BIN)/mypy

# The import rules of pyproject.toml ([tool.importlinter]): pure packages stay pure,
# the Kafka client stays in somagent.kafka, nothing imports the dev stack.
imports: venv
	$(BIN)/lint-imports

check: lint typecheck imports

bench: up
	$(BIN)/somagent bench $(BENCH_ARGS)

clean: down
	rm -rf .somagent $(VENV)
