# LeadGuard: `make demo` and `make test` set everything up themselves.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
WORKSPACE ?= .leadguard-demo
DEMO_ARGS ?=
STAMP := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
SERVE_WORKSPACE ?= .leadguard-server

.PHONY: demo test test-fast test-slow lint bench setup clean serve

setup: $(STAMP) $(CHROMIUM)

# Debian's chromium for the browser tests (Playwright launches it; it downloads no browser)
$(CHROMIUM):
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/leadguard demo --workspace $(WORKSPACE) $(DEMO_ARGS)

test: $(STAMP) $(CHROMIUM)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy src/leadguard
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

test-slow: $(STAMP)
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
