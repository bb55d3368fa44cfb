# The two entry points of the quick start: `make run` and `make test`.
# Both create .venv on first use and install hcx into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The pure-Python build beside it (HCX_PURE=1: no mypyc), for the engine's suites.
PURE_VENV := .venv-pure
PURE_STAMP := $(PURE_VENV)/.installed
# The editable install holds the compiled engine next to its sources: an edit to them
# rebuilds it (a stale extension would shadow the edit).
ENGINE_SOURCES := setup.py $(wildcard src/hcx/engine/*.py) \
	src/hcx/durability/records.py src/hcx/durability/verify.py src/hcx/durability/idempotency.py
SOURCES := $(shell find src -name '*.py')

NODE_STAMP := tests/node/node_modules/.installed

.PHONY: run test lint typecheck unit unit-pure bench clean node-deps

$(STAMP): pyproject.toml $(ENGINE_SOURCES)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,dev,bench]'
	$(BIN)/hcx --version
	touch $(STAMP)

$(PURE_STAMP): pyproject.toml $(SOURCES)
	test -x $(PURE_VENV)/bin/python || $(PYTHON) -m venv $(PURE_VENV)
	$(PURE_VENV)/bin/python -m pip install --quiet --upgrade pip
	HCX_PURE=1 $(PURE_VENV)/bin/python -m pip install --quiet '.[test]'
	HCX_PURE=1 $(PURE_VENV)/bin/python -m pip install --quiet --force-reinstall --no-deps .
	$(PURE_VENV)/bin/hcx --version | grep 'pure engine'
	touch $(PURE_STAMP)

run: $(STAMP)
	$(BIN)/hcx demo

lint: $(STAMP)
	$(BIN)/ruff check setup.py src tests benchmarks scripts examples
	$(BIN)/ruff format --check setup.py src tests benchmarks scripts examples

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

# The Node.js client test's one package (ws), pinned by tests/node/package-lock.json.
$(NODE_STAMP): tests/node/package.json tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund
	touch $(NODE_STAMP)

node-deps: $(NODE_STAMP)

# The engine's suites (properties, determinism, differential, compiled = pure) on the
# pure install; tests import its hcx, not the sources (src is not on their path).
unit-pure: $(PURE_STAMP)
	HCX_PURE=1 $(PURE_VENV)/bin/python -m pytest -q -p no:cacheprovider \
		tests/engine tests/test_bench_smoke.py

test: lint typecheck node-deps unit unit-pure

bench: $(STAMP)
	$(BIN)/python benchmarks/engine_bench.py

clean:
	rm -rf $(VENV) $(PURE_VENV) .pytest_cache .mypy_cache .ruff_cache build src/*.egg-info src/*.so src/hcx/engine/*.so src/hcx/durability/*.so \
		tests/node/node_modules
