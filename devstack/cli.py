"""``make run`` / ``make up`` / ``make down`` / ``make status``: the local stack from a shell.

``run`` supervises in the foreground (Ctrl-C stops everything): a part that exits is started
again (restarts.py), and only repeated fast failures stop the stack. ``up`` starts ``run`` in
the background and returns once the app and daprd are ready; ``down`` stops it; ``status``
shows each part's state and restarts, which ``run`` keeps in ``stack.parts.json``. A pid file
in the run folder makes a second ``up`` say so instead of starting another stack.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from devstack import jaeger
from devstack.errors import StackError
from devstack.pairs import default_pairs
from devstack.settings import DevSettings, get_settings
from devstack.supervisor import Stack

log = logging.getLogger("devstack")


class RunFiles:
    """The files by which ``up``, ``down`` and ``run`` find each other."""

    def __init__(self, run_dir: Path) -> None:
        self.pid = run_dir / "stack.pid"
        self.parts = run_dir / "stack.parts.json"
        self.ready = run_dir / "stack.ready"
        self.stopped = run_dir / "stack.stopped"  # why the last stack stopped by itself
        self.log = run_dir / "logs" / "stack.log"

    def write_parts(self, stack: Stack) -> None:
        """Each part's pid, state and restarts, replaced whole (``status`` may read it now)."""
        parts = stack.watchdog.snapshot() if stack.watchdog else []
        tmp = self.parts.with_suffix(".tmp")
        tmp.write_text(json.dumps({"parts": parts}, indent=1))
        tmp.replace(self.parts)

    def read_parts(self) -> list[dict[str, object]]:
        try:
            parts = json.loads(self.parts.read_text())["parts"]
        except (OSError, ValueError, KeyError, TypeError):
            return []
        return [p for p in parts if isinstance(p, dict)] if isinstance(parts, list) else []

    def running_pid(self) -> int | None:
        try:
            pid = int(self.pid.read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if _alive(pid) and _is_ours(pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _is_ours(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # no /proc: trust the pid file
    return (
        b"devstack" in cmdline
        or b"redis-server" in cmdline
        or b"dapr" in cmdline
        or b"uvicorn" in cmdline
    )


def urls(settings: DevSettings) -> str:
    s = settings.stack
    lines = []
    for pair in default_pairs(settings):
        n = f" {pair.index}" if s.replicas > 1 else ""
        lines.append(f"app{n:<5} http://{s.app_host}:{pair.app}  (docs: /docs)")
        lines.append(f"daprd{n:<3} http://127.0.0.1:{pair.http}/v1.0/metadata")
    lines.append(f"redis    127.0.0.1:{s.redis_port}")
    if settings.tracing.enabled:
        lines.append(f"jaeger   {jaeger.traces_url(settings)}")
        lines.append("         (`make trace`: the newest turn's trace as a waterfall PNG)")
    lines.append(f"logs     {s.run_dir / 'logs'}")
    return "\n".join(lines)


def cmd_run(settings: DevSettings, files: RunFiles) -> int:
    other = files.running_pid()
    if other is not None and other != os.getpid():
        print(f"a stack is already running (pid {other}): `make down` stops it.")
        return 1
    settings.stack.run_dir.mkdir(parents=True, exist_ok=True)
    files.ready.unlink(missing_ok=True)
    files.stopped.unlink(missing_ok=True)
    files.pid.write_text(str(os.getpid()))
    stack = Stack(settings, on_change=lambda: files.write_parts(stack))
    stopping = False

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        stack.start()
        files.write_parts(stack)
        files.ready.write_text("ready\n")
        print(f"agent-actors is up.\n{urls(settings)}", flush=True)
        while not stopping:
            assert stack.watchdog is not None
            if stack.watchdog.gave_up is not None:
                raise StackError(f"stopping the stack: {stack.watchdog.gave_up}")
            time.sleep(0.2)
        return 0
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        files.stopped.write_text(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {exc}\n")
        return 1
    finally:
        stack.stop()
        for path in (files.ready, files.parts, files.pid):
            path.unlink(missing_ok=True)
        log.info("stack stopped")


def cmd_up(settings: DevSettings, files: RunFiles) -> int:
    pid = files.running_pid()
    if pid is not None:
        print(
            f"agent-actors is already running (pid {pid}); `make down` stops it.\n{urls(settings)}"
        )
        return 0
    files.log.parent.mkdir(parents=True, exist_ok=True)
    files.ready.unlink(missing_ok=True)
    with files.log.open("ab") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "devstack.cli", "run"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + settings.stack.ready_timeout_s + 1200  # a cold runtime build
    print(f"starting agent-actors in the background (log: {files.log})", flush=True)
    progress = Progress(files.log)
    while time.monotonic() < deadline:
        progress.show()
        if files.ready.exists():
            print(f"agent-actors is up (supervisor pid {child.pid}).\n{urls(settings)}")
            return 0
        if child.poll() is not None:
            print(_last_error(files.log), file=sys.stderr)
            return 1
        time.sleep(0.2)
    child.terminate()
    print(f"error: the stack was not ready in time: see {files.log}", file=sys.stderr)
    return 1


class Progress:
    """Echoes what the background stack is doing (a cold runtime build takes minutes): the
    build script's lines and each part's start and readiness, from its log."""

    SHOWN = ("dapr-build:", "starting ", " ready in ", "restart")

    def __init__(self, log: Path) -> None:
        self._log = log
        self._offset = log.stat().st_size if log.exists() else 0

    def lines(self) -> list[str]:
        if not self._log.exists():
            return []
        with self._log.open("rb") as f:
            f.seek(self._offset)
            chunk = f.read()
        complete, _, _rest = chunk.rpartition(b"\n")
        if not complete:
            return []
        self._offset += len(complete) + 1
        text = complete.decode(errors="replace").splitlines()
        return [line for line in text if any(mark in line for mark in self.SHOWN)]

    def show(self) -> None:
        for line in self.lines():
            print(f"  {line.strip()}", flush=True)


def _last_error(path: Path) -> str:
    lines = path.read_text(errors="replace").splitlines() if path.exists() else []
    errors = [line for line in lines if line.startswith("error: ")]
    return errors[-1] if errors else f"error: the stack did not start: see {path}"


def cmd_down(settings: DevSettings, files: RunFiles) -> int:
    pid = files.running_pid()
    if pid is None:
        _end_orphans(files)
        print("agent-actors is not running.")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 60
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    _end_orphans(files)
    print("agent-actors stopped.")
    return 0


def _end_orphans(files: RunFiles) -> None:
    """Children left by a supervisor that was killed outright (kill -9): end them by pid."""
    for part in files.read_parts():
        name, pid = part.get("name"), part.get("pid")
        if isinstance(pid, int) and _alive(pid) and _is_ours(pid):
            log.warning("ending %s (pid %s) left by a stopped supervisor", name, pid)
            os.kill(pid, signal.SIGTERM)
    files.parts.unlink(missing_ok=True)


def cmd_status(settings: DevSettings, files: RunFiles) -> int:
    pid = files.running_pid()
    if pid is None:
        print("agent-actors is not running.")
        if files.stopped.exists():
            print(f"The last stack stopped: {files.stopped.read_text().strip()}")
        return 1
    parts = files.read_parts()
    down = [f"{p.get('name')} {p.get('state')}" for p in parts if p.get("state") != "ready"]
    state = "starting" if not files.ready.exists() else "ready" if not down else "recovering"
    detail = f" ({', '.join(down)})" if down and files.ready.exists() else ""
    print(f"agent-actors is {state}{detail} (supervisor pid {pid}).\n{parts_table(parts)}")
    print(urls(settings))
    return 0


def parts_table(parts: list[dict[str, object]]) -> str:
    rows = [("part", "state", "pid", "restarts", "last exit")]
    for p in parts:
        last = p.get("last_exit") or "-"
        at = p.get("last_exit_at")
        if isinstance(at, int | float):
            last = f"{last} at {time.strftime('%H:%M:%S', time.localtime(at))}"
        took = p.get("last_recovery_s")
        if isinstance(took, int | float):
            last = f"{last}, back in {took:.1f} s"
        rows.append(
            (
                str(p.get("name")),
                str(p.get("state")),
                str(p.get("pid")),
                str(p.get("restarts")),
                str(last),
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4]
        for r in rows
    )


COMMANDS = {"run": cmd_run, "up": cmd_up, "down": cmd_down, "status": cmd_status}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.cli", description=__doc__)
    parser.add_argument("command", choices=sorted(COMMANDS))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    # One line per readiness probe would bury the restarts in stack.log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    settings = get_settings()
    try:
        return COMMANDS[args.command](settings, RunFiles(settings.stack.run_dir))
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
