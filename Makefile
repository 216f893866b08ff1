# voxweb: `make demo` runs the whole thing, `make test` the whole suite. Only python3 (>= 3.11) and make needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin

.PHONY: demo test check lint format typecheck bench clean help

help:
	@echo "make demo   - install, migrate, seed, start Redis, voxsim, Celery worker+beat and the web server"
	@echo "make test   - install the test extras and run the whole suite"
	@echo "make check  - ruff (lint + format check), mypy and pytest: what CI runs"
	@echo "make bench  - the performance table (var/bench.json)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Reinstall whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $@ $(VENV)/.installed

# Throwaway secrets for the demo, made once so that data encrypted in one run still decrypts in the next.
var/demo.env: | $(BIN)/python
	@mkdir -p var
	@$(BIN)/python -c "import secrets, base64; \
	print('SECRET_KEY=' + secrets.token_urlsafe(50)); \
	print('FIELD_ENCRYPTION_KEY=' + base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())" > $@
	@chmod 600 $@

demo: $(VENV)/.installed var/demo.env
	@set -a; . ./var/demo.env; set +a; DEBUG=1 $(BIN)/python manage.py demo

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-dev
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy .

check: lint typecheck test

bench: $(VENV)/.installed-dev
	$(BIN)/python -m benchmarks

clean:
	rm -rf var/test-* .pytest_cache .mypy_cache .ruff_cache
