# longtail developer commands. `make demo` and `make test` work on a fresh machine with Python 3.11.
SHELL := /bin/bash
PY ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DIR ?= .demo

.PHONY: install test lint unit demo bench clean

install: $(STAMP)

# Re-installs only when the dependency pins change; otherwise `make install` is instant.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	# fightchurn's chapter-2 SQL listings are the reference for our retention metrics; it pins
	# SQLAlchemy 1.4, so it goes beside the venv's packages (no deps), only for the parity test.
	$(BIN)/python -m pip install -q --disable-pip-version-check --no-deps --target $(VENV)/fightchurn fightchurn==1.2.0
	@touch $(STAMP)

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	scripts/with-services.sh $(BIN)/python -m pytest

# Simulate, run the motion in closed loop, then serve the cockpit on http://127.0.0.1:8000 (DEMO_SERVE=0: don't).
demo: install
	DEMO_DIR=$(DEMO_DIR) scripts/demo.sh

bench: install
	$(BIN)/python benchmarks/run.py

clean:
	rm -rf $(VENV) $(DEMO_DIR) .mypy_cache .pytest_cache .ruff_cache
