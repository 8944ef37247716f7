# invoice-inbox: the two commands of the README.
#   make run    set up and run the service on the embedded default (SQLite + blob folder)
#   make test   set up and run the whole test suite (installs Dovecot for the IMAP tests)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= ./invoice-inbox-data

.PHONY: run test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The service alone (make run), and the service with the test tools (make test, make bench).
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

run:
	./scripts/system-deps.sh run
	$(MAKE) --no-print-directory $(VENV)/.installed-run
	$(BIN)/invoice-inbox --data-dir $(DATA) serve

# One pytest-xdist worker per core; a test module stays on one worker (its module fixtures, e.g.
# the browser tests' Chromium, start once). Each worker starts its own Dovecot on free ports.
test:
	./scripts/system-deps.sh test
	$(MAKE) --no-print-directory $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/pytest -n auto --dist loadfile

bench: $(VENV)/.installed-dev
	./scripts/system-deps.sh test
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache
