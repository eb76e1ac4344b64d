# Two commands: `make run` and `make test`.  Everything else is a helper.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip

.PHONY: run test bench install test-deps wheel clean

$(VENV)/.installed: pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed

## Start the gateway on its embedded defaults (SQLite in ./var, SMTP on 127.0.0.1:2525, outbox Maildir ./var/outbox).
run: $(VENV)/.installed
	mkdir -p var
	$(VENV)/bin/gateway run

## Install what the tests need (services where we can) and run every test.
test: $(VENV)/.installed test-deps
	$(VENV)/bin/lint-imports
	$(PY) -m pytest -n auto --dist loadfile  # one worker per CPU, each test file whole on one worker

test-deps:
	@bash tests/install-services.sh

## Benchmarks with their targets; figures go to bench/results/ (about an hour in all).
bench: $(VENV)/.installed test-deps
	bash bench/smtp-source.sh
	$(PY) bench/ingest.py
	$(PY) bench/imap.py
	$(PY) bench/deadlines.py
	$(PY) bench/migrate.py
	$(PY) bench/nodes.py
	$(PY) bench/cli.py
	$(PY) bench/report.py
	$(PY) bench/team_page.py
	$(PY) bench/peer.py

## Build the wheel a server installs (dist/ticket_gateway-*.whl; see README "Installing on a server").
wheel: $(VENV)/.installed
	rm -rf build  # setuptools reuses build/lib: a deleted module would end up in the wheel
	$(PIP) wheel --quiet --no-deps --wheel-dir dist .

clean:
	rm -rf $(VENV) var .pytest_cache test-output build dist
