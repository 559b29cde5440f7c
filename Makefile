# streamrec: every command sets itself up first (virtualenv, Python packages, node tools).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
BUF := node_modules/.bin/buf
NODE_STAMP := node_modules/.installed
WEB_STAMP := gateway/web/dist/.built
WEB_SRC := $(wildcard gateway/web/src/*) gateway/web/build.mjs
PROTOS := $(wildcard protos/streamrec/v1/*.proto)

.PHONY: help setup web run demo test test-fast faults bench lint format proto proto-check clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

setup: $(STAMP) ## create .venv and install streamrec with its dev tools

# Node packages exactly as package-lock.json pins them (esbuild, hls.js, Buf).
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

$(WEB_STAMP): $(NODE_STAMP) $(WEB_SRC)
	npm run --silent build
	touch $(WEB_STAMP)

web: $(WEB_STAMP) ## build the dashboard's assets (gateway/web/dist)

run: $(STAMP) $(WEB_STAMP) ## start resolver, recorder and gateway (http://127.0.0.1:8080); Ctrl-C stops all
	$(PY) -m tools.run_local

demo: $(STAMP) $(WEB_STAMP) ## as run, plus fake sites + live streams; records "demo" and "stripchat:demo" (mouflon v2)
	$(PY) -m tools.run_local --demo

# The suite waits on live streams far more than it computes (about 0.6 of a core on average
# when run alone), so it runs in TEST_WORKERS processes, one test file per worker at a time
# (a file's module fixtures, such as its stack of services, are started once).
TEST_WORKERS ?= 2

test: $(STAMP) $(WEB_STAMP) ## run the whole test suite
	tools/ensure_promtool.sh
	tools/ensure_chromium.sh
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

test-fast: $(STAMP) $(WEB_STAMP) ## unit and integration tests, without the end-to-end ones
	$(PY) -m pytest -q -m "not e2e"

faults: $(STAMP) ## run the fault suite and write docs/RELIABILITY.md
	$(PY) -m tools.faults

bench: $(STAMP) $(WEB_STAMP) ## run the benchmarks and write docs/PERFORMANCE.md
	tools/ensure_chromium.sh
	$(PY) -m tools.bench

proto: $(STAMP) ## regenerate the Python stubs from protos/
	$(PY) -m tools.genproto

lint: $(STAMP) $(NODE_STAMP) ## ruff, mypy and buf lint
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy servicekit resolver_service recorder_service gateway tools tests streamrec_cli simlab
	cd protos && ../$(BUF) lint

format: $(STAMP) ## apply ruff's formatting and safe fixes
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

clean: ## remove the virtualenv, node tools and caches (not recordings)
	rm -rf $(VENV) node_modules gateway/web/dist .mypy_cache .ruff_cache .pytest_cache
