# NetID — two commands from a clean clone: `make demo` and `make test`.
#   make demo       needs only Python: a venv with the SDK, the `netid` command, the issuer service and the
#                   example shop (.[cli,issuer,example]; no system packages); `make serve` keeps them running
#   make test       also ensures the system packages the real-stack tests use, then the test extras
#   make test-fast  needs only Python too (macOS included): the test-core extra, pyscard if it installs,
#                   and no real-stack tests; only here may the PC/SC tests skip for a missing pyscard
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BASE_STAMP := $(VENV)/.installed-base
TEST_STAMP := $(VENV)/.installed-test
FAST_STAMP := $(VENV)/.installed-test-core
DEMO_STAMP := $(VENV)/.installed-demo

.PHONY: demo serve test test-fast lint typecheck bench mutation system-deps clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(BASE_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[cli]'
	touch $@

# the demo runs the issuer service and the example shop as real servers: their extras too, still Python only
$(DEMO_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[cli,issuer,example]'
	touch $@ $(BASE_STAMP)

# pyscard (a test extra) compiles against libpcsclite: the system packages come first
$(TEST_STAMP): pyproject.toml | $(PY)
	bash scripts/ensure-system-deps.sh
	$(PY) -m pip install --quiet -e '.[test,dev]'
	touch $@ $(BASE_STAMP) $(FAST_STAMP) $(DEMO_STAMP)

# everything that installs without system packages; pyscard only if a wheel fits or it compiles here
$(FAST_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[test-core,dev]'
	$(PY) -m pip install --quiet 'pyscard>=2.0' >$(VENV)/pyscard-install.log 2>&1 \
	  || echo "pyscard did not install (it compiles against pcsclite; see $(VENV)/pyscard-install.log):" \
	          "make test-fast skips the PC/SC tests, make test installs what they need"
	touch $@ $(BASE_STAMP) $(DEMO_STAMP)

system-deps:
	bash scripts/ensure-system-deps.sh

demo: $(DEMO_STAMP)
	$(PY) -m netid demo --out demo-out

# the issuer and the shop on 127.0.0.1 until Ctrl-C, with an enrolled demo wallet: click through in a browser
serve: $(DEMO_STAMP)
	$(PY) -m netid demo --serve --out demo-out

test: system-deps $(TEST_STAMP)
	$(PY) -m ruff check netid issuer_service relying_party_example tests bench scripts
	$(PY) -m mypy
	$(PY) -m pytest -q -p no:cacheprovider

test-fast: $(FAST_STAMP)
	NETID_TEST_FAST=1 $(PY) -m pytest -q -m "not slow" -p no:cacheprovider

lint: $(FAST_STAMP)
	$(PY) -m ruff check netid issuer_service relying_party_example tests bench scripts
	$(PY) -m ruff format --check netid issuer_service relying_party_example tests bench scripts

typecheck: $(FAST_STAMP)
	$(PY) -m mypy

bench: $(TEST_STAMP)
	for b in bench/card_read.py bench/sdjwt.py bench/verify.py bench/wallet_request.py bench/wallet.py \
	         bench/rp.py bench/issuer.py; do echo "== $$b"; $(PY) $$b || exit 1; done

# Mutation testing (docs/mutation.md): run it before changing a module that makes a security decision, and
# kill each surviving mutant with a test or record why it is equivalent. MUTATION_MODULES is the one list of
# what is mutated: files or package folders, e.g. `make mutation MUTATION_MODULES=netid/card/icao/sm.py`.
# The tests mutmut may run are [tool.mutmut] in pyproject.toml; per mutant it runs only those that reach the
# mutated function. tests/card runs only when a card module is mutated (PYTEST_ADDOPTS reaches the pytest
# mutmut runs in-process), so a run over the other modules collects its test map from tests/credentials,
# tests/verifier and tests/oid4vci alone. MUTATION_JOBS bounds the parallel test processes (a shared
# 2-core machine: keep it low). Under mutmut the hypothesis profile "mutation" applies (tests/conftest.py).
MUTATION_MODULES ?= \
	netid/card/icao/passive_auth.py \
	netid/card/icao/sm.py \
	netid/credentials/sdjwt/verify.py \
	netid/credentials/status_list.py \
	netid/credentials/status_source.py \
	netid/issuance/status_lists.py \
	netid/verifier/verify.py \
	netid/oid4vp/response.py:presentation_from_vp_token \
	netid/oid4vci/key_attestation.py \
	netid/oid4vci/_jwt.py \
	netid/oid4vci/proofs.py
MUTATION_JOBS ?= 2
# an entry is a file, a package folder or file.py:function (that module-level function's mutants alone):
# netid/card/icao/sm.py -> netid.card.icao.sm.*   netid/verifier/ -> netid.verifier.*
# netid/oid4vp/response.py:presentation_from_vp_token -> netid.oid4vp.response.x_presentation_from_vp_token__mutmut_*
_mutant_module = $(subst /,.,$(patsubst %.py,%,$(patsubst %/,%,$(1))))
_mutant_glob = $(if $(findstring :,$(1)),$(call _mutant_module,$(firstword $(subst :, ,$(1)))).x_$(lastword \
  $(subst :, ,$(1)))__mutmut_*,$(call _mutant_module,$(1)).*)
MUTANT_GLOBS = $(foreach m,$(MUTATION_MODULES),$(call _mutant_glob,$(m)))
MUTATION_PYTEST_ADDOPTS = $(if $(filter netid/card/%,$(MUTATION_MODULES)),,--ignore=tests/card)

mutation: $(TEST_STAMP)
	PYTEST_ADDOPTS="$(MUTATION_PYTEST_ADDOPTS)" \
	  $(VENV)/bin/mutmut run --max-children $(MUTATION_JOBS) $(foreach g,$(MUTANT_GLOBS),'$(g)')
	@$(VENV)/bin/mutmut results --all true | awk -v globs="$(MUTANT_GLOBS)" ' \
	  BEGIN { n = split(globs, g, " "); for (i = 1; i <= n; i++) { p[i] = g[i]; sub(/\*$$/, "", p[i]) } } \
	  { name = $$1; sub(/:$$/, "", name); status = $$0; sub(/^[^:]*: /, "", status); \
	    for (i = 1; i <= n; i++) if (index(name, p[i]) == 1) { c[i, status]++; \
	      if (status == "survived") print "survived: " name } } \
	  END { print ""; printf "%-36s %7s %8s %8s %8s %6s\n", "module", "killed", "survived", "no tests", "timeout", "score"; \
	    for (i = 1; i <= n; i++) { k = c[i, "killed"] + c[i, "timeout"] + c[i, "caught by type check"]; \
	      t = k + c[i, "survived"] + c[i, "no tests"] + c[i, "suspicious"] + c[i, "segfault"]; \
	      printf "%-36s %7d %8d %8d %8d %5.1f%%\n", p[i], c[i, "killed"], c[i, "survived"], c[i, "no tests"], \
	        c[i, "timeout"], t ? 100 * k / t : 0 } }'

clean:
	rm -rf $(VENV) demo-out .pytest_cache .mypy_cache .ruff_cache .hypothesis
