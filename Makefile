# Canaux — every target sets itself up: `make demo` and `make test` are all a fresh machine needs.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
REPORTS ?= reports/demo

.PHONY: demo demo-client test lint typecheck pytest clean

$(STAMP): pyproject.toml setup.py
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

## demo: run the conformance suite against the embedded reference server; reports land in $(REPORTS)
demo: $(STAMP)
	$(VENV)/bin/canaux-conformance --report-dir $(REPORTS)
	@echo "the other direction (the suite plays the server, checks the reference client): make demo-client"

## demo-client: the suite plays a scripted server and checks the reference client; reports in $(REPORTS)/client
demo-client: $(STAMP)
	$(VENV)/bin/canaux-conformance client --report-dir $(REPORTS)/client

# The site's compliance matrix is generated from a real run: the demo's report, made when missing.
$(REPORTS)/report.json: | $(STAMP)
	$(VENV)/bin/canaux-conformance --report-dir $(REPORTS)

## test: everything the project checks (lint, types, tests)
test: lint typecheck docs-build pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

# pytest exits 5 when it collected no test; that is a failure here like any other non-zero exit.
pytest: $(STAMP)
	$(PY) -m pytest

clean:
	rm -rf $(VENV) build dist site reports .mypy_cache .ruff_cache .pytest_cache .hypothesis

# ---- the spec site (mkdocs-material), its AsyncAPI document and the browser checks ----------
DOCS_NODE := docs/node_modules/.installed
CHROMIUM  := /usr/bin/chromium
SITE      ?= site
DOCS_ADDR ?= 127.0.0.1:8000
MKDOCS    := NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs

.PHONY: docs docs-build docs-deps

# mermaid (vendored into the site: no CDN) and @asyncapi/parser, pinned by docs/package-lock.json.
$(DOCS_NODE): docs/package.json docs/package-lock.json
	cd docs && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Debian's chromium drives the browser checks of `make test`; installing it needs root.
$(CHROMIUM):
	apt-get update && apt-get install -y chromium

# The browser checks that pytest runs (tests/docs, tests/examples: the seed app) need it too.
pytest: $(CHROMIUM)

# Debian's redis-server: the Redis broker's tests start their own on a free loopback port
# (tests/reference/server/redis_server.py); installing it needs root, like chromium.
REDIS_SERVER := /usr/bin/redis-server
$(REDIS_SERVER):
	apt-get update && apt-get install -y redis-server

pytest: $(REDIS_SERVER)

## docs-deps: what the site and its checks need beyond the venv (npm packages, chromium)
docs-deps: $(STAMP) $(DOCS_NODE) $(CHROMIUM)

## docs-build: build the site strictly into $(SITE), validate the AsyncAPI document, check links and anchors
docs-build: docs-deps $(REPORTS)/report.json
	$(MKDOCS) build --strict --site-dir $(SITE)
	node docs/asyncapi/validate.mjs $(SITE)/asyncapi.yaml
	$(PY) -m docs.sitegen.linkcheck $(SITE)

## docs: serve the site with live reload at http://$(DOCS_ADDR)/
docs: $(STAMP) $(DOCS_NODE)
	@echo "Canaux docs: serving on http://$(DOCS_ADDR)/ (Ctrl-C to stop)"
	$(MKDOCS) serve --dev-addr $(DOCS_ADDR)

# ---- benchmarks -----------------------------------------------------------------------------
.PHONY: bench bench-full bench-flood bench-memory bench-validation bench-cluster

# The harness's Node peers (`ws`, socket.io), pinned by benchmarks/node/package-lock.json, and
# its compiled load generator (gcc, libc only).
BENCH_NODE := benchmarks/node/node_modules/.installed
LOADGEN    := build/bench/loadgen

$(BENCH_NODE): benchmarks/node/package.json benchmarks/node/package-lock.json
	cd benchmarks/node && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(LOADGEN): benchmarks/harness/loadgen.c
	mkdir -p $(@D)
	gcc -O2 -Wall -o $@ $<

# tests/benchmarks run the harness on a tiny load, Node peers included.
pytest: $(BENCH_NODE) $(LOADGEN)

## bench: five servers (canaux, Node ws, bare websockets, Node socket.io, python-socketio), quick
## sweeps (a few minutes); prints the tables, the load generator's CPU on every row
bench: $(STAMP) $(BENCH_NODE) $(LOADGEN)
	ulimit -n "$$(ulimit -Hn)" 2>/dev/null || true; $(PY) -m benchmarks.harness

## bench-flood: an unrelated subscriber's latency during a 3,000-connection flood and a 1,000-socket slowloris
bench-flood: $(STAMP)
	ulimit -n "$$(ulimit -Hn)" 2>/dev/null || true; $(PY) -m benchmarks.run --flood

## bench-cluster: memory broker vs Redis vs two nodes on Redis (fan-out, latency, storm across nodes)
bench-cluster: $(STAMP)
	ulimit -n "$$(ulimit -Hn)" 2>/dev/null || true; $(PY) -m benchmarks.cluster

## bench-memory: what one identity can make the server hold (detached sessions, big publishes, a slow reader)
bench-memory: $(STAMP)
	$(PY) -m benchmarks.memory

## bench-validation: what checking one valid publish against its channel's schema costs, per library
bench-validation: $(STAMP)
	$(PY) -m benchmarks.validation

## bench-full: the full sweeps (3 interleaved rounds, longer windows, 10,000 idle connections);
## results in benchmarks/results/harness-full.{json,md}
bench-full: $(STAMP) $(BENCH_NODE) $(LOADGEN)
	ulimit -n "$$(ulimit -Hn)" 2>/dev/null || true; $(PY) -m benchmarks.harness --full

# ---- the suite's power (mutation testing; not part of `make test`) ---------------------------
.PHONY: power
POWER_N    ?= 30
POWER_SEED ?=
POWER_JOBS ?= 2

## power: run the suite (--quick) against POWER_N random single mutations of the reference core
## and server; prints the kill rate and every survivor (POWER_SEED=… replays a sample)
power: $(STAMP)
	$(PY) -m tests.power --n $(POWER_N) --jobs $(POWER_JOBS) $(if $(POWER_SEED),--seed $(POWER_SEED))
