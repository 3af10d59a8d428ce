# The two commands: `make demo` runs the pipeline on local paths, `make test` runs the suite.
# Both create .venv/ on first use; nothing needs to be installed by hand besides Python 3.11 and Java 17.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench chaos clean

demo: $(STAMP)
	$(VENV)/bin/sparkify demo

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/python -m pytest

# Only what needs no JVM and no S3 server: seconds, for the edit-run loop.
test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -m "not spark and not s3 and not slow"

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -e ".[bench]"
	$(VENV)/bin/python bench/bench_generator.py

# kill -9 the stream 20 times at random moments, drain, compare with a backfill (tests/chaos.py).
chaos: $(STAMP)
	$(VENV)/bin/python -m tests.chaos --kills 20

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

clean:
	rm -rf lake spark-warehouse metastore_db derby.log .pytest_cache
