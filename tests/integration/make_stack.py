"""`make up` / `make run` / `make status` / `make down` on a private set of ports and run folder,
as a user runs them."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from devstack.ports import port_fields
from tests.integration.stack_fixture import private_settings

REPO = Path(__file__).resolve().parents[2]


def stack_env(run_dir: Path, **stack: object) -> dict[str, str]:
    """Environment that points `make up` at a private set of ports and a private run folder;
    ``stack`` sets other StackSettings fields."""
    settings = private_settings(run_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_ACTORS_")}
    for name in port_fields():
        env[f"AGENT_ACTORS_STACK__{name.upper()}"] = str(getattr(settings.stack, name))
    env["AGENT_ACTORS_STACK__RUN_DIR"] = str(run_dir)
    env["AGENT_ACTORS_DAPR__HTTP_PORT"] = str(settings.dapr.http_port)
    env["AGENT_ACTORS_DAPR__GRPC_PORT"] = str(settings.dapr.grpc_port)
    for name, value in stack.items():
        env[f"AGENT_ACTORS_STACK__{name.upper()}"] = str(value)
    return env


def ports_of(env: dict[str, str]) -> list[int]:
    return [int(v) for k, v in env.items() if k.endswith("_PORT") and k.startswith("AGENT_ACTORS_")]


def make(target: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["make", "-s", "--no-print-directory", target],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def parts_of(run_dir: Path) -> dict[str, dict[str, object]]:
    """What the supervisor of `make up` records of each part: pid, state, restarts, last exit."""
    doc = json.loads((run_dir / "stack.parts.json").read_text())
    return {p["name"]: p for p in doc["parts"]}


def pids_of(run_dir: Path) -> dict[str, int]:
    return {name: int(str(p["pid"])) for name, p in parts_of(run_dir).items()}
