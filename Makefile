# attnseg: `make help` lists the targets.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# Re-install only when the project definition changes.
RUNTIME_STAMP := $(VENV)/.stamp-runtime
DEV_STAMP := $(VENV)/.stamp-dev
export HF_HUB_OFFLINE ?= 1

.DEFAULT_GOAL := help
.PHONY: help install install-dev train test test-slow test-all lint format bench bench-gpu overhead clean

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

overhead: $(RUNTIME_STAMP) ## Training-step overhead of attnseg-train vs a plain PyTorch loop, paired (quiet machine; ARGS="--out docs")
	$(BIN)/attnseg-step-overhead $(ARGS)

# bench-gpu: the GPU set in one go, within its time budgets (~8 min on an H200; rows not reached
# are written as skipped). Where PyTorch comes without the venv: BENCH_PYTHON=python3 with
# PYTHONPATH=src and the packages it lacks. The tests run it small on the CPU (GPU_DEVICE=cpu,
# GPU_BENCH/GPU_STEPS overridden: tests/tools/test_step_bench.py).
BENCH_PYTHON ?= $(BIN)/python
GPU_DEVICE ?= cuda
GPU_OUT ?= docs
GPU_BENCH ?= --batch-sizes 1 --repeats 10 --timeout 150 --time-budget 210
GPU_STEPS ?= --size 769 --batch-sizes 1 2 --timeout 150 --time-budget 270
bench-gpu: $(if $(filter $(BIN)/python,$(BENCH_PYTHON)),$(RUNTIME_STAMP)) ## Modules fp32/bf16 x eager/compile + each head's training step at 769, B 1-2 -> docs/benchmark_gpu*.md/.csv
	$(BENCH_PYTHON) -m attnseg.tools.bench --device $(GPU_DEVICE) --dtype fp32 bf16 --compile eager compile \
		--compile-cases CrissCrossAttention 'criss-cross einsum autograd' NonLocal2d \
		$(GPU_BENCH) --out $(GPU_OUT) --name benchmark_gpu
	$(BENCH_PYTHON) -m attnseg.tools.step_bench --device $(GPU_DEVICE) --dtype bf16 fp32 --compile eager compile \
		--heads ccnet nonlocal danet self_attn fcn $(GPU_STEPS) --out $(GPU_OUT) --name benchmark_gpu_steps
