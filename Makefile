# NetID — two commands from a clean clone: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-fast lint typecheck bench system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

system-deps:
	bash scripts/ensure-system-deps.sh

demo: $(STAMP)
	$(PY) -m netid.cli demo --out demo-out

test: system-deps $(STAMP)
	$(PY) -m ruff check netid tests bench
	$(PY) -m mypy
	$(PY) -m pytest -q -p no:cacheprovider

test-fast: $(STAMP)
	$(PY) -m pytest -q -m "not slow" -p no:cacheprovider

lint: $(STAMP)
	$(PY) -m ruff check netid tests bench
	$(PY) -m ruff format --check netid tests bench

typecheck: $(STAMP)
	$(PY) -m mypy

bench: $(STAMP)
	for b in bench/card_read.py bench/sdjwt.py bench/verify.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) demo-out .pytest_cache .mypy_cache .ruff_cache .hypothesis
