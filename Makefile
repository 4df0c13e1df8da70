# agentaudit — every entry point. `make help` lists them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
PYTEST_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help up test lint bench clean

help: ## list the entry points
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  make %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

up: $(STAMP) ## set up and run everything on the embedded store, with demo traffic
	$(BIN)/agentaudit up --demo

test: $(STAMP) ## set up and run the whole test suite
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(BIN)/nox -s frameworks

# The code is one tree under agentaudit/; the top-level folder links are for readers only.
SOURCES := agentaudit tests bench noxfile.py

lint: $(STAMP) ## ruff + mypy
	$(BIN)/ruff check $(SOURCES)
	$(BIN)/ruff format --check $(SOURCES)
	$(BIN)/mypy

BENCH_STAMP := $(VENV)/.bench-stamp

$(BENCH_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) ## run the benchmarks (installs agentaudit[bench]) and write docs/benchmarks.md
	$(BIN)/python -m bench

clean: ## remove the virtualenv and local state
	rm -rf $(VENV) .agentaudit
