# Two commands a newcomer needs: `make dev` (local stack) and `make test` (whole suite).
# Both build .venv from requirements*.txt first, so a fresh machine needs nothing else.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: dev test lint unit fmt bench fuzz clean

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	@touch $@

## Local stack: Firestore emulator, every function on one port ($${PORT:-8080}), task dispatch, scheduler tick.
dev: $(STAMP)
	$(PY) -m infra.dev

## Everything CI checks: lint, type check, terraform checks, then the test suite (starts its own emulator).
test: $(STAMP) lint
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

bench: $(STAMP)
	$(PY) -m benchmarks.run_throughput

clean:
	rm -rf $(VENV) .venv-* .pytest_cache .mypy_cache .ruff_cache
