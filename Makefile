# agent-actors: every target installs what it needs (venv, Dapr runtime, Redis) when missing.
SHELL := /bin/bash
UV ?= $(shell command -v uv 2>/dev/null || echo "$(HOME)/.local/bin/uv")
PY := $(UV) run --frozen python
export UV_LINK_MODE ?= copy

.PHONY: help setup runtime run up down status test test-unit test-integration lint format docs bench clean

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

$(UV):
	@command -v python3 >/dev/null || { echo "error: python3 is needed to install uv"; exit 1; }
	python3 -m pip install --quiet --user uv || python3 -m pip install --quiet uv

.venv/.synced: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen
	@touch $@

setup: .venv/.synced ## Python environment (uv, locked)

runtime: ## build (or find) the pinned Dapr runtime in .dapr/bin or $$DAPR_BIN_DIR
	bash tools/dapr/build.sh

run: setup ## the whole stack in the foreground; Ctrl-C stops everything
	$(PY) -m agent_actors.stack.cli run

up: setup ## the same stack in the background; returns when app and daprd are ready
	$(PY) -m agent_actors.stack.cli up

down: setup ## stop what `make up` started
	$(PY) -m agent_actors.stack.cli down

status: setup ## is a stack running?
	$(PY) -m agent_actors.stack.cli status

test: setup runtime ## unit + integration tests (integration: real daprd, placement, scheduler, Redis)
	$(UV) run --frozen pytest

test-unit: setup ## unit tests only (no sidecar)
	$(UV) run --frozen pytest tests/unit

test-integration: setup runtime ## integration tests only
	$(UV) run --frozen pytest tests/integration

lint: setup ## ruff (lint + format check) and mypy
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen mypy

format: setup ## apply ruff's fixes and formatting
	$(UV) run --frozen ruff check --fix .
	$(UV) run --frozen ruff format .

docs: setup ## regenerate README's configuration table from settings.py
	$(PY) -m agent_actors.settings_doc

bench: setup runtime ## benchmarks on private real stacks (quick, <= 5 min; FULL=1: the full profile) -> docs/BENCHMARKS.md
	$(PY) -m bench $(if $(FULL),--full,)

clean: ## remove the run folder (logs, Redis and scheduler data of `make run`)
	rm -rf .run
