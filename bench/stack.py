"""Private real stacks for the benchmark (devstack/private.py, as the integration tests use):
free ports, own run folder, always stopped after. A benchmark never touches the stack of
`make up` (ports 8000/3500/6379) and ends exactly the processes it started.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.ports import free_ports
from devstack.private import PrivateStack, private_stack
from devstack.settings import REPO_ROOT


@contextmanager
def running_stack(run_dir: Path, app_env: dict[str, str] | None = None) -> Iterator[PrivateStack]:
    # An app token, as a deployment would have: the sidecar-only middleware is on the path.
    with private_stack(run_dir, app_api_token=secrets.token_hex(16), app_env=app_env) as stack:
        yield stack


STUB_SERVER = REPO_ROOT / "tools" / "openai_stub" / "server.py"


@contextmanager
def openai_stub(delay_s: float, log_path: Path) -> Iterator[str]:
    """The local OpenAI-protocol server (tools/openai_stub) answering after ``delay_s``;
    yields its base URL (``.../v1``)."""
    with openai_stub_process(delay_s, log_path) as (base_url, _pid):
        yield base_url


@contextmanager
def openai_stub_process(delay_s: float, log_path: Path) -> Iterator[tuple[str, int]]:
    """``openai_stub``, yielding its base URL and its process id (to meter its CPU)."""
    port = free_ports(1)[0]
    argv = [
        sys.executable,
        "-m",
        "tools.openai_stub.server",
        "--port",
        str(port),
        "--delay",
        str(delay_s),
    ]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            argv, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_listening(port, proc, deadline=time.monotonic() + 30)
        yield f"http://127.0.0.1:{port}/v1", proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_listening(port: int, proc: subprocess.Popen[bytes], deadline: float) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the OpenAI stub exited during start-up (code {proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"the OpenAI stub did not listen on port {port} in time")
