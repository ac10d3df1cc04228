# Two commands on a fresh machine: `make run` serves on SQLite, `make test` runs every test.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000

.PHONY: install chromium run test lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
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

test: install chromium
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
