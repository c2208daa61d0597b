# Eyeball: `make run` serves the demo, `make test` runs every check.
# Needs only Python 3.11+ and make; everything else goes into .venv.

# The first Python 3.11+ that actually runs (version managers install shims for absent ones).
PYTHON ?= $(shell for p in python3.14 python3.13 python3.12 python3.11 python3 python; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1 && echo $$p && break; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PORT ?= 8000
HOST ?= 127.0.0.1
PYTEST_ARGS ?=
# Test processes: every fixture uses its own databases and free ports, so the suite runs
# in parallel; PYTEST_WORKERS=0 runs it in one process.
PYTEST_WORKERS ?= auto

.PHONY: run test lint format messages bench clean

# pip runs quietly (its full log would bury the sign-ins printed after it), so each step
# says what it is doing and that the first install takes a few minutes.
$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Eyeball needs Python 3.11 or newer on PATH (python3.11, python3.12, ...)."; exit 1; }
	@echo "Setting up Eyeball in $(VENV) with $(PYTHON) (once; later runs start at once)."
	@echo "[1/3] Creating the virtual environment..."
	@$(PYTHON) -m venv $(VENV)
	@echo "[2/3] Updating pip..."
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@echo "[3/3] Installing Eyeball and its tools (a few minutes the first time)..."
	@$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)
	@echo "Installed."

run: $(STAMP)
	$(BIN)/eyeball serve --demo --host $(HOST) --port $(PORT)

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/mypy

test: lint
	$(BIN)/pytest -n $(PYTEST_WORKERS) --maxprocesses 4 $(PYTEST_ARGS)

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Extracts every message into app/locale/messages.pot and adds the new ones, untranslated,
# to each language's catalogue (app/locale/<language>/LC_MESSAGES/messages.po); fill them
# in, then `make test` checks that none is missing. See docs/translating.md.
messages: $(STAMP)
	$(BIN)/python -m app.catalogues

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache test-output
