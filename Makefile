# agent-actors: every target installs what it needs when missing (uv, venv, Dapr runtime,
# redis-server, Tilt); a bare machine needs only Go, Python 3 and make.
SHELL := /bin/bash
# pip --user puts uv in ~/.local/bin, which a fresh machine's PATH often lacks: the recipes,
# and the tests they run (which call uv themselves), find it through this PATH.
export PATH := $(HOME)/.local/bin:$(PATH)
UV ?= uv
PY := $(UV) run --frozen python
export UV_LINK_MODE ?= copy
# `make run REPLICAS=2`: that many app+daprd pairs (the same as AGENT_ACTORS_STACK__REPLICAS).
ifdef REPLICAS
export AGENT_ACTORS_STACK__REPLICAS := $(REPLICAS)
endif
# `make run TRACING=1`: traces to a local Jaeger (docs/observability.md).
ifneq ($(filter 1 true yes,$(TRACING)),)
run up: export AGENT_ACTORS_TRACING__ENABLED := true
endif

.PHONY: help uv setup runtime redis chromium tilt jaeger docker image e2e-k8s trace bench-tracing bench-index tools run up down status check test \
	test-unit test-deploy test-integration lint format docs bench clean

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

# --break-system-packages: Debian's python3 refuses even --user installs (PEP 668); uv is one
# binary with no Python dependencies, so nothing of the system's can break. The last form is
# for a shell inside a virtualenv, where --user is refused and the venv's bin is on PATH.
uv: ## uv on PATH, or installed with pip into ~/.local/bin
	@command -v $(UV) >/dev/null || { \
	  command -v python3 >/dev/null || { echo "error: python3 is needed to install uv"; exit 1; }; \
	  echo "installing uv with pip into ~/.local/bin"; \
	  python3 -m pip install --quiet --user uv 2>/dev/null \
	  || python3 -m pip install --quiet --user --break-system-packages uv 2>/dev/null \
	  || python3 -m pip install --quiet uv; }
	@command -v $(UV) >/dev/null || { echo "error: uv was installed but is not on PATH"; exit 1; }

.venv/.synced: pyproject.toml uv.lock | uv
	$(UV) sync --frozen
	@touch $@

setup: .venv/.synced ## Python environment (uv, locked)

runtime: ## build (or find) the pinned Dapr runtime in .dapr/bin or DAPR_BIN_DIR
	bash tools/dapr/build.sh

redis: setup ## redis-server on PATH, or Debian's package installed with apt-get (as root)
	@$(PY) -m devstack.redis

tilt: ## build (or find) the pinned Tilt the Tiltfile test runs (TILT=<path>: that one)
	@if [ -n "$$TILT" ]; then echo "using TILT=$$TILT"; else bash tools/k8s/build-tools.sh; fi

# The inspector's browser test drives Debian's chromium with Playwright (no browser download).
CHROMIUM ?= /usr/bin/chromium
chromium: ## Debian's chromium for the inspector's browser test (apt-get as root when missing)
	@[ -x $(CHROMIUM) ] || { \
	  [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	  || { echo "error: $(CHROMIUM) is missing: install it with \`sudo apt-get install -y chromium\`"; exit 1; }; \
	  echo "chromium is missing: installing Debian's chromium package"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }
	@[ -x $(CHROMIUM) ] || { echo "error: $(CHROMIUM) is still missing after apt-get"; exit 1; }

jaeger: ## build (or find) the pinned Jaeger, the trace backend (JAEGER=<path>: that one)
	@bash tools/jaeger/build.sh >/dev/null

# The image test (tests/integration/test_image.py) starts dockerd itself when none runs, and
# stops the one it started at the end.
docker: ## Debian's docker.io and debootstrap, installed with apt-get (as root) when missing
	@bash tools/docker/engine.sh install

image: ## build ./Dockerfile with Docker as `agent-actors` (starts dockerd if none runs; local base images where no registry answers)
	bash tools/docker/image.sh

e2e-k8s: ## NOT in `make test`: a kind cluster (node image built here), Dapr from its chart, `tilt ci`, a chat turn, `kubectl delete pod` (KEEP=1 keeps the cluster)
	bash tools/kind/e2e.sh

tools: setup runtime redis chromium tilt jaeger docker ## everything the tests need: venv, Dapr runtime, redis-server, Chromium, Tilt, Jaeger, Docker

run: setup ## the whole stack in the foreground (REPLICAS=N: N app+daprd pairs; TRACING=1: + Jaeger); Ctrl-C stops everything
	$(PY) -m devstack.cli run

up: setup ## the same stack in the background; returns when app and daprd are ready
	$(PY) -m devstack.cli up

trace: setup ## the newest turn's trace in the running stack's Jaeger as a waterfall PNG (ID=<trace id>)
	$(PY) -m devstack.traceview $(if $(ID),--trace-id $(ID),)

down: setup ## stop what `make up` started
	$(PY) -m devstack.cli down

status: setup ## is a stack running?
	$(PY) -m devstack.cli status

# The inner loop: lint and the unit tier, which needs no Go, Tilt, Docker, Chromium or network.
check: lint test-unit ## lint + unit tests: the inner loop (under a minute warm; nothing to install but the venv)

# The whole suite, every tier (pyproject.toml's markers); the 20 slowest tests are printed so a
# test that grows slow is seen. Two pytest-xdist workers, a test file each at a time: most of a
# real-stack test is waiting (stacks starting, faults recovering), so two halve the suite's
# time on 2 cores; each worker starts its own private stacks (devstack/ports.py keeps their
# ports apart). TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= 2
test: tools ## every test: unit, deploy and integration (real daprd, placement, scheduler, Redis)
	$(UV) run --frozen pytest $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadfile) --durations=20

test-unit: setup ## unit tests only (no sidecar, no network, no Go)
	$(UV) run --frozen pytest tests/unit

test-deploy: setup tilt ## the deploy files checked by Tilt and Dapr's own sources (Go's module cache)
	$(UV) run --frozen pytest tests/deploy

test-integration: setup runtime redis chromium jaeger docker ## integration tests only
	$(UV) run --frozen pytest tests/integration

lint: setup ## ruff (lint + format check), mypy, and the layers contract (import-linter)
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy
	$(UV) run --frozen lint-imports

format: setup ## apply ruff's fixes and formatting
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

docs: setup ## regenerate docs/configuration.md's table from the settings (service + devstack)
	$(PY) -m devstack.settings_doc

bench: setup runtime ## benchmarks on private real stacks (quick, ~9.5 min; FULL=1: the full profile, ~40 min) -> docs/BENCHMARKS.md, docs/bench/runs.md
	$(PY) -m bench $(if $(FULL),--full,)

bench-tracing: setup runtime jaeger ## W1 with tracing off and on, same run: what tracing costs (SIZE=tiny|quick|full)
	$(PY) -m bench.feature_cost --feature tracing $(if $(SIZE),--size $(SIZE),)

bench-index: setup runtime ## W1 with the session index off and on, same run: what it costs (SIZE=...)
	$(PY) -m bench.feature_cost --feature session-index $(if $(SIZE),--size $(SIZE),)

clean: ## remove the run folder (logs, Redis and scheduler data of `make run`)
	rm -rf .run
