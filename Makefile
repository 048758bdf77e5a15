# agent-actors: every target installs what it needs when missing (uv, venv, Dapr runtime,
# redis-server, Tilt); a bare machine needs only Go, Python 3 and make.
SHELL := /bin/bash
# pip --user puts uv in ~/.local/bin, which a fresh machine's PATH often lacks: the recipes,
# and the tests they run (which call uv themselves), find it through this PATH.
export PATH := $(HOME)/.local/bin:$(PATH)
UV ?= uv
PY := $(UV) run --frozen python
export UV_LINK_MODE ?= copy

.PHONY: help uv setup runtime redis tilt tools run up down status test test-unit \
	test-integration lint format docs bench clean

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
	@$(PY) -m agent_actors.stack.redis

tilt: ## build (or find) the pinned Tilt the Tiltfile test runs (TILT=<path>: that one)
	@if [ -n "$$TILT" ]; then echo "using TILT=$$TILT"; else bash tools/k8s/build-tools.sh; fi

tools: setup runtime redis tilt ## everything the tests need: venv, Dapr runtime, redis-server, Tilt

run: setup ## the whole stack in the foreground; Ctrl-C stops everything
	$(PY) -m agent_actors.stack.cli run

up: setup ## the same stack in the background; returns when app and daprd are ready
	$(PY) -m agent_actors.stack.cli up

down: setup ## stop what `make up` started
	$(PY) -m agent_actors.stack.cli down

status: setup ## is a stack running?
	$(PY) -m agent_actors.stack.cli status

test: tools ## unit + integration tests (integration: real daprd, placement, scheduler, Redis)
	$(UV) run --frozen pytest

test-unit: setup tilt ## unit tests only (no sidecar; the deploy tests run Tilt)
	$(UV) run --frozen pytest tests/unit

test-integration: setup runtime redis ## integration tests only
	$(UV) run --frozen pytest tests/integration

lint: setup ## ruff (lint + format check), mypy, and the layers contract (import-linter)
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy
	$(UV) run --frozen lint-imports

format: setup ## apply ruff's fixes and formatting
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

docs: setup ## regenerate README's configuration table from settings.py
	$(PY) -m agent_actors.settings_doc

bench: setup runtime ## benchmarks on private real stacks (quick, <= 5 min; FULL=1: the full profile) -> docs/BENCHMARKS.md
	$(PY) -m bench $(if $(FULL),--full,)

clean: ## remove the run folder (logs, Redis and scheduler data of `make run`)
	rm -rf .run
