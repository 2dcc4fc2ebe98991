# `make demo` and `make test` work on a fresh machine with python3 (3.11+): each creates .venv when needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench run migrate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/phishbot demo

test: $(STAMP)
	$(PY) -m pytest

# Every benchmark, each printing a table and a one-line summary of ratios against a baseline from the same run.
# bench.ack needs wrk (Debian: apt-get install wrk).
bench: $(STAMP)
	$(PY) -m bench.ack
	$(PY) -m bench.verdicts
	$(PY) -m bench.parse
	$(PY) -m bench.purge
	$(PY) -m bench.memory

lint: $(STAMP)
	$(VENV)/bin/ruff check .

run: $(STAMP)
	$(VENV)/bin/phishbot run

migrate: $(STAMP)
	$(VENV)/bin/phishbot migrate

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
