"""One child process of the stack: started in its own session, logged to a file, ended by pid."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from devstack.errors import StackError


@dataclass
class ManagedProcess:
    name: str
    argv: list[str]
    log_path: Path
    ready: Callable[[], bool]
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            try:
                self.popen = subprocess.Popen(
                    self.argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, **self.env},
                    cwd=self.cwd,
                    # Own session: Ctrl-C in the terminal reaches the supervisor only, which
                    # then stops the children in order.
                    start_new_session=True,
                )
            except OSError as exc:
                raise StackError(f"{self.name} could not be started ({exc}).") from exc

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen else None

    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def wait_ready(self, deadline: float) -> None:
        while time.monotonic() < deadline:
            if not self.running():
                raise StackError(
                    f"{self.name} exited during start-up (code {self.returncode()}): "
                    f"the last lines of {self.log_path} say why: {self.log_tail()}"
                )
            try:
                if self.ready():
                    return
            except OSError:
                pass
            time.sleep(0.1)
        raise StackError(
            f"{self.name} was not ready in time: see {self.log_path} ({self.log_tail()})"
        )

    def returncode(self) -> int | None:
        return self.popen.poll() if self.popen else None

    def log_tail(self, lines: int = 3) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "no log"
        return " | ".join(line.strip()[:300] for line in text[-lines:]) or "empty log"

    def kill(self) -> None:
        """SIGKILL, as a crash would (tests of durability)."""
        if self.popen is not None and self.running():
            self.popen.kill()
            self.popen.wait(timeout=10)

    def stop(self, grace_s: float = 10.0) -> None:
        if not self.running():
            return
        assert self.popen is not None
        self.popen.send_signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=grace_s)
