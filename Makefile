# Canaux — every target sets itself up: `make demo` and `make test` are all a fresh machine needs.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
REPORTS ?= reports/demo

.PHONY: demo test lint typecheck pytest clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: run the conformance suite against the embedded reference server; reports land in $(REPORTS)
demo: $(STAMP)
	$(VENV)/bin/canaux-conformance --report-dir $(REPORTS)

## test: everything the project checks (lint, types, tests)
test: lint typecheck pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# pytest exits 5 when it collected no test; that is a failure here like any other non-zero exit.
pytest: $(STAMP)
	$(PY) -m pytest

clean:
	rm -rf $(VENV) build dist site reports .mypy_cache .ruff_cache .pytest_cache .hypothesis
