"""Restarting the parts of a running stack that exit, as Kubernetes restarts a crashed container.

A watchdog thread polls every part. One that exited unexpectedly is started again with the
same command after a backoff (``restart_backoff_s``, doubling per exit within
``restart_window_s``, at most ``restart_backoff_max_s``); the others keep serving. One started
again that is not ready within ``ready_timeout_s`` is killed and counts as an exit (a failed
start). After ``restart_limit`` exits of one part within the window it gives up and says why:
the owner (``make run``/``make up``) then stops everything. Each exit is one log line with its
status; each return to readiness one more, with the time it took.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from devstack.errors import StackError
from devstack.settings import StackSettings

if TYPE_CHECKING:
    from devstack.process import ManagedProcess
    from devstack.supervisor import Stack

log = logging.getLogger("devstack")

POLL_S = 0.1


@dataclass(frozen=True)
class RestartPolicy:
    backoff_s: float = 0.5
    backoff_max_s: float = 10.0
    limit: int = 5
    window_s: float = 60.0
    ready_s: float = 90.0  # a restarted part not ready by then is stopped: a failed start

    @classmethod
    def of(cls, s: StackSettings) -> RestartPolicy:
        return cls(
            s.restart_backoff_s,
            s.restart_backoff_max_s,
            s.restart_limit,
            s.restart_window_s,
            s.ready_timeout_s,
        )

    def delay(self, recent_exits: int) -> float:
        """The wait before restart number ``recent_exits`` of the window (1 for the first)."""
        return float(min(self.backoff_s * 2 ** max(recent_exits - 1, 0), self.backoff_max_s))


def exit_status(returncode: int | None) -> str:
    if returncode is None:
        return "still running"
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"code {returncode}"


@dataclass
class PartState:
    """What the watchdog knows of one part; ``state`` is ready, starting, restarting (waiting
    out its backoff) or failed."""

    name: str
    popen: subprocess.Popen[bytes] | None
    state: str = "ready"
    restarts: int = 0
    last_exit: str | None = None
    last_exit_at: float | None = None  # wall clock, for people
    exited: float = 0.0  # monotonic: when the exit was seen
    due: float = 0.0  # monotonic: when the restart starts
    started: float = 0.0  # monotonic: when it was started again (its readiness deadline runs)
    last_recovery_s: float | None = None  # exit seen -> ready again
    exits: deque[float] = field(default_factory=deque)

    def as_dict(self, pid: int | None) -> dict[str, object]:
        return {
            "name": self.name,
            "pid": pid,
            "state": self.state,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "last_exit_at": self.last_exit_at,
            "last_recovery_s": self.last_recovery_s,
        }


class Watchdog:
    """Polls the parts of ``stack`` in a daemon thread and restarts those that exit. Every
    change of the parts is made under ``stack.lock``, which ``Stack.restart`` takes too, so a
    restart by hand and one by the watchdog never both start a part."""

    def __init__(
        self,
        stack: Stack,
        policy: RestartPolicy,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.stack = stack
        self.policy = policy
        self.on_change = on_change or (lambda: None)
        self.parts = {p.name: PartState(p.name, p.popen) for p in stack.processes}
        self.gave_up: str | None = None
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="stack-watchdog", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    def snapshot(self) -> list[dict[str, object]]:
        with self.stack.lock:
            return [
                self.parts[p.name].as_dict(p.pid)
                for p in self.stack.processes
                if p.name in self.parts
            ]

    # -- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        while not self._stop.is_set() and self.gave_up is None:
            try:
                changed = self._tick(time.monotonic())
                changed |= self._probe_starting()
            except Exception:  # the watchdog must outlive any one bad poll
                log.exception("the stack's watchdog failed a poll; it keeps watching")
                changed = False
            if changed:
                self._notify()
            self._stop.wait(POLL_S)

    def _notify(self) -> None:
        try:
            self.on_change()
        except Exception:
            log.exception("recording the stack's state failed")
        with self._changed:
            self._changed.notify_all()

    def _tick(self, now: float) -> bool:
        changed = False
        with self.stack.lock:
            if self._stop.is_set():
                return False
            for proc in self.stack.processes:
                part = self.parts.get(proc.name)
                if part is None:
                    continue
                if proc.popen is not part.popen:  # started again by hand (Stack.restart)
                    part.popen, part.state, changed = proc.popen, "starting", True
                    part.started = now
                if part.state in ("ready", "starting") and not proc.running():
                    self._exited(proc, part, now, f"exited with {exit_status(proc.returncode())}")
                    changed = True
                elif part.state == "starting" and now - part.started > self.policy.ready_s:
                    # Running but never ready (a daprd that cannot reach placement, an app
                    # stuck in start-up): left alone it would stay "starting" for ever, and
                    # nothing would restart it or give up. A start that failed, like an exit.
                    proc.kill()
                    self._exited(proc, part, now, f"not ready within {self.policy.ready_s:g} s")
                    changed = True
                if self.gave_up is not None:
                    return True
                elif part.state == "restarting" and now >= part.due:
                    self._start_again(proc, part, now)
                    changed = True
        return changed

    def _exited(self, proc: ManagedProcess, part: PartState, now: float, how: str) -> None:
        part.last_exit = how.removeprefix("exited with ")
        part.last_exit_at, part.exited = time.time(), now
        part.exits.append(now)
        while part.exits and part.exits[0] < now - self.policy.window_s:
            part.exits.popleft()
        recent = len(part.exits)
        if recent >= self.policy.limit:
            part.state = "failed"
            self.gave_up = (
                f"{proc.name} exited {recent} times within {self.policy.window_s:g} s "
                f"(last: {part.last_exit}): see {proc.log_path} ({proc.log_tail()})"
            )
            log.error("giving up: %s", self.gave_up)
            return
        part.state, part.due = "restarting", now + self.policy.delay(recent)
        log.warning(
            "%s (pid %s) %s: restart %d in %.1f s (%d exit(s) within %g s; log: %s)",
            proc.name,
            proc.pid,
            how,
            part.restarts + 1,
            part.due - now,
            recent,
            self.policy.window_s,
            proc.log_path,
        )

    def _start_again(self, proc: ManagedProcess, part: PartState, now: float) -> None:
        part.restarts += 1
        try:
            proc.start()
        except StackError as exc:  # e.g. the binary is gone: as good as an exit
            self._exited(proc, part, now, f"could not be started ({exc})")
            return
        part.popen, part.state, part.started = proc.popen, "starting", now

    def _probe_starting(self) -> bool:
        """Readiness of the parts that were started again (outside the lock: probes are HTTP
        calls and take up to seconds)."""
        changed = False
        for proc in list(self.stack.processes):
            part = self.parts.get(proc.name)
            if part is None or part.state != "starting" or not proc.running():
                continue
            try:
                ready = proc.ready()
            except OSError:
                ready = False
            with self.stack.lock:
                if ready and part.state == "starting" and proc.popen is part.popen:
                    part.state, changed = "ready", True
                    if part.exits:
                        part.last_recovery_s = time.monotonic() - part.exited
                    log.info(
                        "%s is ready again (pid %s, %s after it exited)",
                        proc.name,
                        proc.pid,
                        _seconds(part.last_recovery_s),
                    )
        return changed

    # -- for callers that crash a part on purpose (tests) -----------------------------------

    def wait_back(self, name: str, restarts_before: int, deadline: float) -> float:
        """Wait until ``name`` has been restarted by the watchdog and is ready; returns the
        seconds from its exit to ready."""
        part = self.parts[name]
        with self._changed:
            while True:
                if self.gave_up is not None:
                    raise StackError(f"the stack gave up: {self.gave_up}")
                if part.restarts > restarts_before and part.state == "ready":
                    return part.last_recovery_s or 0.0
                left = deadline - time.monotonic()
                if left <= 0:
                    raise StackError(
                        f"{name} was not back in time (state {part.state}, "
                        f"{part.restarts} restart(s))"
                    )
                self._changed.wait(min(left, 1.0))


def _seconds(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f} s"
