# The two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never

.PHONY: run test test-unit test-integration test-faults bench lint format typecheck contracts clean install

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check uv
	$(BIN)/uv pip install -q -p $(BIN)/python -r requirements.lock
	$(BIN)/uv pip install -q -p $(BIN)/python --no-deps -e .
	touch $@

## run: install, migrate, start the embedded broker and all four services
run: install
	$(BIN)/ikm up --demo

## test: lint, types of the shared kernel, architecture rules and the whole suite on the real broker (and PostgreSQL if reachable)
test: install lint typecheck
	$(BIN)/lint-imports
	$(BIN)/ikm contracts check
	$(BIN)/pytest -q -p no:cacheprovider --ignore=tests/faults

test-unit: install
	$(BIN)/pytest -q tests/unit

test-integration: install
	$(BIN)/pytest -q tests/integration

## test-faults: delivery guarantees under faults (issue #12), real broker and PostgreSQL (~10 min);
## the time to recover from each fault is listed at the end
test-faults: install
	$(BIN)/pytest -q -p no:cacheprovider tests/faults

## bench: the pipeline and command latency beside the raw Kafka client (BENCH_ARGS to size it),
## then each consumer's CPU per event and the CPU of a registration, a bulk import and a
## dashboard poll
BENCH_ARGS ?= --enterprises 100000
bench: install
	$(BIN)/python -m bench.run $(BENCH_ARGS)
	$(BIN)/python -m bench.consumers
	$(BIN)/python -m bench.commands

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: install
	$(BIN)/mypy

lock:
	uv pip compile pyproject.toml --extra dev -o requirements.lock --python-version 3.11 --no-header

clean:
	rm -rf .ikm .pytest_cache
