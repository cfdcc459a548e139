# NetID — two commands from a clean clone: `make demo` and `make test`.
#   make demo   needs only Python: a venv with the base install (no system packages)
#   make test   also ensures the system packages the real-stack tests use, then the test extras
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BASE_STAMP := $(VENV)/.installed-base
TEST_STAMP := $(VENV)/.installed-test

.PHONY: demo test test-fast lint typecheck bench system-deps clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(BASE_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e .
	touch $@

# pyscard (a test extra) compiles against libpcsclite: the system packages come first
$(TEST_STAMP): pyproject.toml | $(PY)
	bash scripts/ensure-system-deps.sh
	$(PY) -m pip install --quiet -e '.[test,dev]'
	touch $@ $(BASE_STAMP)

system-deps:
	bash scripts/ensure-system-deps.sh

demo: $(BASE_STAMP)
	$(PY) -m netid.cli demo --out demo-out

test: system-deps $(TEST_STAMP)
	$(PY) -m ruff check netid tests bench
	$(PY) -m mypy
	$(PY) -m pytest -q -p no:cacheprovider

test-fast: $(TEST_STAMP)
	$(PY) -m pytest -q -m "not slow" -p no:cacheprovider

lint: $(TEST_STAMP)
	$(PY) -m ruff check netid tests bench
	$(PY) -m ruff format --check netid tests bench

typecheck: $(TEST_STAMP)
	$(PY) -m mypy

bench: $(TEST_STAMP)
	for b in bench/card_read.py bench/sdjwt.py bench/verify.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) demo-out .pytest_cache .mypy_cache .ruff_cache .hypothesis
