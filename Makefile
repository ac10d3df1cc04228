# Two commands on a fresh machine: `make run` serves on SQLite, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: install chromium nginx wrk run test lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	touch $(STAMP)

install: $(STAMP)

run: install  # make run PORT=8001 when 8000 is taken
	$(BIN)/teamgate serve --port $(PORT)

# The browser tests drive Debian's Chromium (Playwright's own browser downloads are not used).
chromium:
	@[ -x /usr/bin/chromium ] || { echo "Installing Debian's chromium for the browser tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    chromium fonts-liberation >/dev/null; }

# tests/deploy runs deploy/nginx.conf in Debian's nginx. Services are kept from starting during
# the install (RUNLEVEL=1), and a system nginx started anyway is stopped: the tests start their own.
nginx:
	@[ -x /usr/sbin/nginx ] || { echo "Installing Debian's nginx for the deployment tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  RUNLEVEL=1 DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    nginx >/dev/null && \
	  if [ -s /run/nginx.pid ]; then /usr/sbin/nginx -s quit; fi; }

# bench/run.py loads the server with Debian's wrk (tests/test_bench.py runs it as a smoke test).
wrk:
	@command -v wrk >/dev/null || { echo "Installing Debian's wrk for the benchmark"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null; }

test: install chromium nginx wrk
	$(BIN)/pytest -n 2 --dist worksteal --cov --cov-report=term:skip-covered

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) data .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.*
