# `make demo` and `make test` work on a fresh machine with python3 (3.11+): each creates .venv when needed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench fuzz run migrate clean

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

run: $(STAMP)
	$(VENV)/bin/phishbot run

migrate: $(STAMP)
	$(VENV)/bin/phishbot migrate

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
