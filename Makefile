# Each target creates or reuses .venv and installs what it needs: a fresh machine needs nothing else.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv demo test test-fast bench lint format clean

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/mlayer demo

PYTEST_ARGS ?=

# Whole modules per worker (--dist loadfile): a module's shared set-up (a deployed function, a
# handler process, module_aws) runs once, not once on each worker. Three workers on two cores:
# a worker waiting on its children (a CLI, a handler, moto) leaves a core idle. On clean
# clones, 2 cores: 175-185% CPU with -n 3, 161% with -n 2 (docs/BENCHMARKS.md).
test: $(STAMP)
	$(BIN)/python -m pytest -n 3 --dist loadfile -q $(PYTEST_ARGS) tests

# No layer build, no Lambda-like interpreter, no embedded AWS: the tier to run while editing.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 -q -m "not slow and not e2e and not aws" $(PYTEST_ARGS) tests

bench: $(STAMP)
	$(BIN)/python -m benchmarks

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) build .cache .pytest_cache
