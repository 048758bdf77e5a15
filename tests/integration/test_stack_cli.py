"""Issue 3's acceptance on the real processes: make up / make down, and one-sentence errors."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from pathlib import Path

import httpx

from devstack.ports import port_is_free
from tests.integration.make_stack import REPO, make, pids_of, ports_of, stack_env


def test_up_twice_then_down_leaves_nothing_behind(tmp_path: Path) -> None:
    env = stack_env(tmp_path)
    up = make("up", env)
    assert up.returncode == 0, up.stdout + up.stderr
    assert "agent-actors is up" in up.stdout
    children = pids_of(tmp_path)
    assert set(children) == {"redis", "placement", "scheduler", "daprd", "app"}
    app_port = env["AGENT_ACTORS_STACK__APP_PORT"]
    assert httpx.get(f"http://127.0.0.1:{app_port}/healthz").status_code == 200

    again = make("up", env)
    assert again.returncode == 0
    assert "already running" in again.stdout
    assert pids_of(tmp_path) == children

    down = make("down", env)
    assert down.returncode == 0, down.stderr
    for name, pid in children.items():
        assert not Path(f"/proc/{pid}").exists(), f"{name} (pid {pid}) is still running"
    busy = [p for p in ports_of(env) if not port_is_free(p)]
    assert busy == []
    assert "not running" in make("down", env).stdout


def one_sentence_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    out = result.stdout + result.stderr
    assert "Traceback" not in out, out
    errors = [line for line in out.splitlines() if line.startswith("error: ")]
    assert errors, out
    return errors[-1]


def test_a_port_in_use_is_named(tmp_path: Path) -> None:
    env = stack_env(tmp_path)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env["AGENT_ACTORS_STACK__APP_PORT"] = str(port)
        message = one_sentence_error(make("run", env))
    assert f"port {port} (app) is already in use" in message


def test_missing_redis_is_named(tmp_path: Path) -> None:
    env = stack_env(tmp_path)
    env["AGENT_ACTORS_STACK__REDIS_SERVER"] = str(tmp_path / "no" / "redis-server")
    message = one_sentence_error(make("run", env))
    assert "redis-server was not found at" in message


def test_a_failing_runtime_build_is_named(tmp_path: Path) -> None:
    env = stack_env(tmp_path)
    env["DAPR_BIN_DIR"] = str(tmp_path / "bin")  # empty: forces a build
    env["GOPROXY"] = "off"  # and the build cannot download anything
    env["GOMODCACHE"] = str(tmp_path / "gomod")
    env["GOFLAGS"] = "-mod=mod"
    message = one_sentence_error(make("run", env))
    assert "building the Dapr runtime failed" in message


def test_make_run_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    env = stack_env(tmp_path)
    # Its own process group, as a terminal gives a foreground job: Ctrl-C is SIGINT to it.
    proc = subprocess.Popen(
        ["make", "-s", "--no-print-directory", "run"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "agent-actors is up" in line:
                break
        children = pids_of(tmp_path)
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)  # make itself reports the interrupt (-2); what matters is below
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()
    for name, pid in children.items():
        assert not Path(f"/proc/{pid}").exists(), f"{name} (pid {pid}) is still running"
    assert [p for p in ports_of(env) if not port_is_free(p)] == []
