# attnseg: `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Re-install only when the project definition changes.
RUNTIME_STAMP := $(VENV)/.stamp-runtime
DEV_STAMP := $(VENV)/.stamp-dev
export HF_HUB_OFFLINE ?= 1

.DEFAULT_GOAL := help
.PHONY: help install install-dev train test test-slow test-all lint format bench clean

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip

$(RUNTIME_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e .
	@touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -e '.[dev]'
	@touch $@ $(RUNTIME_STAMP)

install: $(RUNTIME_STAMP) ## Create .venv and install the project into it
install-dev: $(DEV_STAMP) ## Install the project with the dev extra (pytest, ruff)

train: $(RUNTIME_STAMP) ## Train the default model on the bundled synthetic dataset (ARGS="head=ccnet ...")
	$(BIN)/attnseg-train $(ARGS)

test: $(DEV_STAMP) ## Run the test suite (all but the multi-process end-to-end tests)
	$(BIN)/python -m pytest -m "not slow" $(ARGS)

test-slow: $(DEV_STAMP) ## Run the slow end-to-end tests (CLI subprocesses, DDP, sweeps, launchers)
	$(BIN)/python -m pytest -m slow $(ARGS)

test-all: $(DEV_STAMP) ## Run every test
	$(BIN)/python -m pytest $(ARGS)

lint: $(DEV_STAMP) ## ruff check + format check
	$(BIN)/ruff check src tests *.py
	$(BIN)/ruff format --check src tests *.py

format: $(DEV_STAMP) ## Apply ruff fixes and formatting
	$(BIN)/ruff check --fix src tests *.py
	$(BIN)/ruff format src tests *.py

clean: ## Remove run outputs, build files and caches (keeps .venv)
	rm -rf logs outputs multirun build dist .pytest_cache .ruff_cache

bench: $(RUNTIME_STAMP) ## Benchmark the attention modules (time, memory, FLOPs) against naive versions
	$(BIN)/attnseg-bench $(ARGS)
