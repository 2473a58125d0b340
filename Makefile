# kopt: `make train` and `make test` are the quick start; both set up .venv as needed.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
JOBS   ?= 2
ARGS   ?=
SMOKE  ?= 0

.PHONY: install dev train test test-fast heavy-tests mutants smoke lint format clean bench bench-quick

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# pip compiles every module it installs to bytecode, one file after another: ~36 of the ~80 s of the dev
# install on 2 cores. Installed without that, then compiled on every core: the same .pyc files in ~20 s.
# (Errors are pip's to ignore as well: some packages ship templates that are not Python.)
PIP_INSTALL = $(BIN)/python -m pip install -q --no-compile
COMPILE_VENV = $(BIN)/python -m compileall -q -q -j 0 \
  "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" || true

$(VENV)/.installed: pyproject.toml setup.py | $(BIN)/python
	$(PIP_INSTALL) -e .
	$(COMPILE_VENV)
	touch $@

$(VENV)/.installed-dev: pyproject.toml setup.py | $(BIN)/python
	$(PIP_INSTALL) -e '.[dev]'
	$(COMPILE_VENV)
	touch $@ $(VENV)/.installed

$(VENV)/.installed-bench: pyproject.toml setup.py | $(BIN)/python
	$(PIP_INSTALL) -e '.[dev,bench]'
	$(COMPILE_VENV)
	touch $@ $(VENV)/.installed-dev $(VENV)/.installed

install: $(VENV)/.installed

dev: $(VENV)/.installed-dev

train: install
	$(BIN)/kopt train $(ARGS)

# `make test` is lint and the suite. With SMOKE=1 (CI: .ci/run) the smoke (`make smoke`: a fresh venv, then
# ~25 kopt processes one at a time, mostly one core and pip's downloads) runs beside the suite rather than
# after it; its lines are printed once the suite has finished, and either failing fails `make test`.
# kopt's modules are imported afresh by each of the suite's ~570 forked `kopt` processes (tests/forkserver.py
# never preloads them): compiled once before the suite, and with bytecode written where an environment
# (CI's) sets PYTHONDONTWRITEBYTECODE, that is ~57 of ~1,080 CPU s (benchmarks/NOTES.md).
PYTEST_ENV = $(BIN)/python -m compileall -q -q -j 0 kopt tests; env -u PYTHONDONTWRITEBYTECODE

test: dev lint
	@smoke=; log=$$(mktemp); \
	if [ "$(SMOKE)" = 1 ]; then \
	  echo "smoke: started beside the suite; its lines follow the suite's"; \
	  PYTHON=$(PYTHON) tests/smoke/plain_install.sh >$$log 2>&1 & smoke=$$!; \
	fi; \
	status=0; $(PYTEST_ENV) $(BIN)/python -m pytest -q -n $(JOBS) --dist loadgroup --durations=25 $(ARGS) || status=$$?; \
	if [ -n "$$smoke" ]; then \
	  smoke_status=0; wait $$smoke || smoke_status=$$?; cat $$log; \
	  [ $$smoke_status = 0 ] || { echo "smoke: FAILED (exit $$smoke_status)"; [ $$status != 0 ] || status=1; }; \
	fi; \
	rm -f $$log; exit $$status

# The edit loop: the tests that train nothing and import no TensorFlow (tests/fastmode.py skips the rest
# at their first TensorFlow import; those listed in tests/heavy_tests.txt are left out up front), fewer
# fuzz examples; no lint, no smoke. `make heavy-tests` reruns the tier with nothing left out and rewrites
# the list (after a test starts or stops needing TensorFlow; test-fast's last lines say when).
# Only the plugins it uses: pytest rewrites the asserts of every module of an autoloaded plugin's
# package (Hydra, hypothesis, anyio), in each worker, which costs seconds.
FAST_ENV := KOPT_TEST_FAST=1 KOPT_FUZZ_EXAMPLES=40 KOPT_FUZZ_TUNE_EXAMPLES=15 KOPT_HOSTILE_EXAMPLES=8 \
  PYTEST_DISABLE_PLUGIN_AUTOLOAD=1
FAST_PYTEST = $(BIN)/python -m pytest -q -n $(JOBS) --dist loadgroup -p no:cacheprovider \
  -p xdist.plugin -p _hypothesis_pytestplugin $(ARGS)

test-fast: dev
	$(PYTEST_ENV) $(FAST_ENV) $(FAST_PYTEST)

heavy-tests: dev
	$(PYTEST_ENV) $(FAST_ENV) KOPT_FAST_RECORD=1 $(FAST_PYTEST)

# Mutation testing of the core modules (pyproject's [tool.mutmut]; docs/architecture.md): after touching one,
# e.g. `make mutants ARGS=kopt.stats`. Prints killed/total per module; not part of `make test` or CI's budget.
mutants: dev
	$(BIN)/python tests/mutants_report.py --jobs $(JOBS) $(ARGS)

# The user's path: a fresh venv with `pip install .` (no extras), every default command run from a
# folder outside the checkout (tests/smoke/plain_install.sh; about 3 minutes on 2 cores). `make test SMOKE=1` runs it beside the suite, as CI does.
smoke:
	PYTHON=$(PYTHON) tests/smoke/plain_install.sh

# ruff (configured in pyproject.toml): the lint rules, then the format check; `make format` applies both fixes
lint: dev
	$(BIN)/ruff check kopt tests benchmarks hydra_plugins
	$(BIN)/ruff format --check kopt tests benchmarks hydra_plugins

format: dev
	$(BIN)/ruff check --fix kopt tests benchmarks hydra_plugins
	$(BIN)/ruff format kopt tests benchmarks hydra_plugins

clean:
	rm -rf build dist *.egg-info .pytest_cache .hypothesis
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Benchmarks: every script in benchmarks/, results in benchmarks/results/, summary in BENCHMARKS.md
bench: $(VENV)/.installed-bench
	cd benchmarks && $(abspath $(BIN))/python run_all.py $(ARGS)

bench-quick: $(VENV)/.installed-bench
	cd benchmarks && $(abspath $(BIN))/python run_all.py --quick $(ARGS)
