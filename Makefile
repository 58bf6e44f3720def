# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml clients/python/pyproject.toml 2>/dev/null | sha1sum | cut -c1-12)
TEST_STAMP := $(VENV)/.test-installed-$(shell cat pyproject.toml clients/python/pyproject.toml 2>/dev/null | sha1sum | cut -c1-12)
BENCH_STAMP := $(VENV)/.bench-installed-$(shell cat pyproject.toml clients/python/pyproject.toml 2>/dev/null | sha1sum | cut -c1-12)
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# llama-cpp-python compiles from source: portable, using both cores; pip caches the wheel it builds.
export CMAKE_ARGS ?= -DGGML_NATIVE=OFF
export CMAKE_BUILD_PARALLEL_LEVEL ?= 2

# The web app (PlugAI) and the TypeScript SDK: one npm workspace (package.json, package-lock.json).
NPM_STAMP := node_modules/.installed-$(shell cat package-lock.json 2>/dev/null | sha1sum | cut -c1-12)
WEB_SOURCES := $(shell find frontend/src frontend/public clients/typescript/src -type f 2>/dev/null) \
	frontend/index.html frontend/vite.config.ts frontend/tsconfig.json frontend/package.json \
	clients/typescript/package.json clients/typescript/tsconfig.json docs/contracts/openapi.yaml
WEB_BUILD := frontend/dist/index.html

.PHONY: install install-test install-bench run test lint bench clean npm-install web chromium types-fresh

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): | $(PY)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -e ".[local,hub]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(PIP) install -q -e ".[local,hub,test]" -e clients/python
	@command -v docker-compose >/dev/null 2>&1 || docker compose version >/dev/null 2>&1 || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null) || \
		echo "warning: could not install docker-compose (the compose file test needs it)"
	rm -f $(VENV)/.test-installed-*
	touch $(TEST_STAMP)

install-test: $(TEST_STAMP)

$(NPM_STAMP): package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	rm -f node_modules/.installed-*
	touch $(NPM_STAMP)

npm-install: $(NPM_STAMP)

# Rebuilt when missing or older than its sources: the SDK's types from the contract, then the app.
$(WEB_BUILD): $(NPM_STAMP) $(WEB_SOURCES)
	npm run build --silent

web: $(WEB_BUILD)

# Before the build regenerates it: the committed src/schema.ts must be what the contract makes (a stale one fails).
types-fresh: $(NPM_STAMP)
	@npx --no-install openapi-typescript docs/contracts/openapi.yaml -o clients/typescript/src/schema.ts --check \
		>/dev/null 2>&1 || { echo "clients/typescript/src/schema.ts is stale: run 'npm run generate -w @pluggably/client' and commit it" >&2; exit 1; }

# The browser tests drive Debian's Chromium (a test tool's own browser download cannot work here).
chromium:
	@command -v chromium >/dev/null 2>&1 || (apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null)

run: install web
	$(VENV)/bin/pluggably serve --host 127.0.0.1 --port 8080

# ruff (lint and format) and mypy on the server packages and the SDK: their scope is in pyproject.toml.
lint: install-test
	$(VENV)/bin/ruff check
	$(VENV)/bin/ruff format --check
	$(VENV)/bin/mypy

test: lint types-fresh web chromium
	mkdir -p reports
	$(PY) -m pytest -q --junitxml=reports/pytest.xml $(PYTEST_ARGS)

# The benchmarks also need wrk (Debian's package; bench/harness.py installs it when missing) and py-spy.
$(BENCH_STAMP): $(TEST_STAMP)
	$(PIP) install -q -e ".[local,hub,test,bench]" -e clients/python
	@command -v wrk >/dev/null 2>&1 || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null)
	rm -f $(VENV)/.bench-installed-*
	touch $(BENCH_STAMP)

install-bench: $(BENCH_STAMP)

# The hot path: every figure of issue 10's table, direct and gateway side by side (BENCH_ARGS: see --help).
bench: install-bench
	$(PY) -m bench.hotpath $(BENCH_ARGS)

clean:
	rm -rf $(VENV) reports data .pytest_cache .mypy_cache .ruff_cache node_modules frontend/dist clients/typescript/dist
