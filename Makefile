# invoice-inbox: the two commands of the README.
#   make run    set up and run the service on the embedded default (SQLite + blob folder)
#   make test   set up and run the whole test suite (installs Dovecot for the IMAP tests), then
#               the database-facing tests again on PostgreSQL (a private cluster per worker)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DATA   ?= ./invoice-inbox-data

.PHONY: run test lint bench clean i18n

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The service alone (make run), and the service with the test tools and the optional backends'
# drivers (PostgreSQL, S3) that the tests exercise (make test, make bench).
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev,postgresql,s3]'
	touch $@

run:
	./scripts/system-deps.sh run
	$(MAKE) --no-print-directory $(VENV)/.installed-run
	$(BIN)/invoice-inbox --data-dir $(DATA) serve

# One pytest-xdist worker per core; a test module stays on one worker (its module fixtures, e.g.
# the browser tests' Chromium, start once). Each worker starts its own Dovecot on free ports.
# The second run puts the database on PostgreSQL: each worker initdb's its own cluster and every
# test gets a fresh database (tests/harness/pg_fixtures.py); tests/sync runs on its own (its
# tests import their folder's conftest, which another folder's conftest would shadow).
# test-servers.sh unpacks Cyrus and Courier (never apt-installed: that removes Dovecot) for
# tests/contract, which runs the IMAP/POP3 connector contract on all three servers.
test:
	./scripts/system-deps.sh test
	./scripts/test-servers.sh
	$(MAKE) --no-print-directory $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/python -m mypy  # --strict over src/, as [tool.mypy] in pyproject.toml says
	$(BIN)/pytest -n auto --dist loadfile
	$(BIN)/pytest -n auto --dist loadfile --db=postgresql tests/store tests/runtime tests/web
	$(BIN)/pytest -n auto --dist loadfile --db=postgresql tests/sync

# The message catalogues (issue 20): extract every marked string (babel.cfg) into messages.pot,
# merge it into each language's .po (no fuzzy guesses: a changed msgid is untranslated until a
# translator writes it), compile the .mo files (committed; tests/i18n checks they are current).
I18N      := src/invoice_inbox/i18n
I18N_LANG := de nl pl fr
I18N_KEYS := --no-default-keywords -k _ -k gettext -k ngettext:1,2 -k pgettext:1c,2 -k N_

i18n: $(VENV)/.installed-dev
	$(BIN)/pybabel extract -F babel.cfg $(I18N_KEYS) -c Translators: --sort-by-file --width 100 \
		--project invoice-inbox --copyright-holder "invoice-inbox" -o $(I18N)/messages.pot .
	for lang in $(I18N_LANG); do \
		test -f $(I18N)/locales/$$lang/LC_MESSAGES/messages.po || \
			$(BIN)/pybabel init -i $(I18N)/messages.pot -d $(I18N)/locales -l $$lang -w 100 || exit 1; \
		$(BIN)/pybabel update -i $(I18N)/messages.pot -d $(I18N)/locales -l $$lang -w 100 \
			--no-fuzzy-matching --ignore-obsolete --ignore-pot-creation-date || exit 1; \
	done
	$(BIN)/pybabel compile -d $(I18N)/locales --statistics

bench: $(VENV)/.installed-dev
	./scripts/system-deps.sh test
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) build src/*.egg-info .pytest_cache .ruff_cache .mypy_cache
