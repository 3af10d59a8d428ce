# The two commands: `make demo` runs the pipeline on local paths, `make test` runs the suite.
# Both create .venv/ on first use; nothing needs to be installed by hand besides Python 3.11 and Java 17.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint bench bench-quick chaos clean chromium

# Quiet: the demo prints its own phases and summary (the details go to the log file it names).
demo: $(STAMP)
	@$(VENV)/bin/sparkify demo

# The quick benchmarks run before pytest: about 9 minutes, and a script that no longer runs fails there
# long before the half hour of pytest would end.
test: $(STAMP) chromium
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy
	$(MAKE) --no-print-directory bench-quick
	$(VENV)/bin/python -m pytest

# The Data Docs browser test renders pages in headless Chromium. On a clean CI machine (root, apt-get)
# it is installed here; anywhere else this only says so, and that test skips with the reason.
chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "no chromium (installing it needs root and apt-get): the Data Docs browser test will skip"

# Only what needs no JVM and no S3 server: seconds, for the edit-run loop.
test-fast: $(STAMP)
	$(VENV)/bin/python -m pytest -m "not spark and not s3 and not slow"

# ruff, the import contracts in pyproject.toml ([tool.importlinter]: the layers, no cycles), and the
# type check of the five packages ([tool.mypy]).
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

# Every benchmark of bench/registry.py with its full arguments (hours on 2 cores), then bench/REPORT.md
# and its plots; the reports and results go to bench/reports/.
bench: $(STAMP)
	$(VENV)/bin/python -m pip install --quiet -e ".[bench]"
	$(VENV)/bin/python bench/suite.py

# Each benchmark on tiny data (7 s to 100 s each, about 9 minutes in all here), then the REPORT.md of those
# runs, all in a new temp directory (never bench/reports/); fails if a script fails or writes no results.
# Judges no time.
bench-quick: $(STAMP)
	$(VENV)/bin/python bench/suite.py --quick

# kill -9 the stream 20 times at random moments, drain, compare with a backfill (tests/chaos.py).
chaos: $(STAMP)
	$(VENV)/bin/python -m tests.chaos --kills 20

# -qq: pip's errors only. With one -q pip still relays setuptools' ten-line notice about editable
# installs on every fresh install; a failed install still prints pip's error and stops make.
PIP := $(VENV)/bin/python -m pip install -qq --disable-pip-version-check --progress-bar off

$(STAMP): pyproject.toml
	@echo "installing Sparkify Lake and its dependencies into $(VENV)/ (the first time: a few minutes)"
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@$(PIP) --upgrade pip
	@$(PIP) -e ".[dev]"
	@touch $(STAMP)

clean:
	rm -rf lake spark-warehouse metastore_db derby.log .pytest_cache .import_linter_cache .mypy_cache
