# `make demo` and `make test` work on a fresh machine with python3 (3.11+): each creates .venv when needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast typecheck lint bench fuzz run migrate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/phishbot demo

# The suite runs on four workers (pytest-xdist): most tests wait on loopback servers, not on a core.
# PYTEST_ARGS narrows it, e.g. PYTEST_ARGS='-m database' (what .ci/run's PostgreSQL pass runs).
TEST_WORKERS ?= 4
PYTEST_ARGS ?=
# Bytecode, and pytest's rewritten test modules, cached under .venv even where PYTHONDONTWRITEBYTECODE is set (as
# on the shared machine and in the Dockerfile): otherwise every xdist worker compiles every module again, 5 s of
# CPU each of the 9 s a worker's collection costs. Under .venv, so the tree stays free of __pycache__.
test test-fast: export PYTHONDONTWRITEBYTECODE :=
test test-fast: export PYTHONPYCACHEPREFIX := $(abspath $(VENV))/pycache
test: $(STAMP)
	$(PY) -m pytest -n $(TEST_WORKERS) $(PYTEST_ARGS)

# Unit tests and in-process flows: no subprocess, no kill -9, no replica; the property tests try a quarter of
# their examples (tests/conftest.py: examples), `make test` all of them.
test-fast: $(STAMP)
	PHISHBOT_TEST_EXAMPLES=quick $(PY) -m pytest -n $(TEST_WORKERS) -m 'unit or flow' $(PYTEST_ARGS)

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# Every benchmark, each printing a table and a one-line summary of ratios against a baseline from the same run.
bench: $(STAMP)
	$(PY) -m bench.ack
	$(PY) -m bench.verdicts
	$(PY) -m bench.parse
	$(PY) -m bench.purge
	$(PY) -m bench.memory
	$(PY) -m bench.storm

# Coverage-guided fuzzing of the email parser (atheris, by hand, not in CI): seeded from the sample emails;
# the corpus it grows and any finding (crash-*, timeout-*) go to .fuzz/. FUZZ_SECONDS=600 make fuzz
FUZZ_SECONDS ?= 60
fuzz: $(STAMP)
	$(PY) -c "import atheris" 2>/dev/null || $(PY) -m pip install --quiet -e '.[fuzz]'
	mkdir -p .fuzz/corpus
	$(PY) fuzz/parse_message.py .fuzz/corpus tests/fixtures/emails bot/sandbox/samples -dict=fuzz/mime.dict \
		-max_total_time=$(FUZZ_SECONDS) -max_len=65536 -timeout=10 -artifact_prefix=.fuzz/

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

run: $(STAMP)
	$(VENV)/bin/phishbot run

migrate: $(STAMP)
	$(VENV)/bin/phishbot migrate

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
