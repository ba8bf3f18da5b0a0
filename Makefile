# LeadGuard: `make demo` and `make test` set everything up themselves.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
WORKSPACE ?= .leadguard-demo
DEMO_ARGS ?=
STAMP := $(VENV)/.installed
# The tests start a throw-away PostgreSQL server (tests/pgserver.py) from Debian's package.
PG_INITDB := /usr/lib/postgresql/*/bin/initdb
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
CHROMIUM ?= /usr/bin/chromium
SERVE_WORKSPACE ?= .leadguard-server

.PHONY: demo test test-fast test-slow lint bench setup clean postgres serve

setup: postgres $(STAMP) $(CHROMIUM)

postgres:
	@ls $(PG_INITDB) >/dev/null 2>&1 || { $(SUDO) apt-get update && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y postgresql; }

# Debian's chromium for the browser tests (Playwright launches it; it downloads no browser)
$(CHROMIUM):
	$(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	command -v pdftotext >/dev/null || (apt-get update && apt-get install -y poppler-utils)
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/leadguard demo --workspace $(WORKSPACE) $(DEMO_ARGS)

test: postgres $(STAMP) $(CHROMIUM)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src/leadguard
	$(BIN)/python -m pytest

test-fast: postgres $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

test-slow: postgres $(STAMP)
	$(BIN)/python -m pytest -m slow

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src/leadguard

bench: $(STAMP)
	$(BIN)/python benchmarks/enroll_throughput.py
	$(BIN)/python benchmarks/search_latency.py

serve: $(STAMP)
	test -f $(SERVE_WORKSPACE)/leadguard.db || $(BIN)/leadguard init $(SERVE_WORKSPACE)
	$(BIN)/leadguard serve --workspace $(SERVE_WORKSPACE)

clean:
	rm -rf $(VENV) $(WORKSPACE) $(SERVE_WORKSPACE) .pytest_cache
