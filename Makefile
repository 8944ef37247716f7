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

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

run:
	./scripts/system-deps.sh run
	$(MAKE) --no-print-directory $(VENV)/.installed
	$(BIN)/invoice-inbox --data-dir $(DATA) serve

test:
	./scripts/system-deps.sh test
	$(MAKE) --no-print-directory $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/pytest

bench: $(VENV)/.installed
	./scripts/system-deps.sh test
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache
