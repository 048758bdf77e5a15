"""The stack that `make up` starts restarts its crashed parts by itself, under load, and gives up
(stopping everything, saying why) only when a part keeps failing.

Each crash is a kill -9 of the part's pid as `make status` shows it; nothing else is done by
hand. Each test prints its figures (``pytest -s``): the supervisor's time from the exit to the
part being ready again, and what the users saw (the first acknowledged turn sent after the
kill, the longest time without one).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count, pairwise
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.make_stack import make, parts_of, pids_of, stack_env

pytestmark = pytest.mark.faults

USERS = 6
PHASE_S = 10.0  # load per crashed part
KILL_AT_S = 1.5  # into the phase: every user has committed turns by then
BACK_WITHIN_S = 60.0  # a bound against hanging, not a figure under test
ERROR_PAUSE_S = 0.25  # a user whose turn failed waits this long before the next one


@dataclass
class Load:
    """What the users saw: each acknowledged turn (content, seq), and how the others failed."""

    acked: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    oks: list[tuple[float, float]] = field(default_factory=list)  # (sent, answered) of each 200
    failed: Counter[str] = field(default_factory=Counter)
    started: float = 0.0
    ended: float = 0.0

    def first_ok_after(self, moment: float) -> float | None:
        done = [answered for sent, answered in self.oks if sent >= moment]
        return min(done) - moment if done else None

    def longest_gap(self) -> float:
        marks = sorted([self.started, *(answered for _, answered in self.oks), self.ended])
        return max(b - a for a, b in pairwise(marks))


async def chat(url: str, users: list[str], duration_s: float) -> Load:
    """Each user sends unique turns back to back for ``duration_s``; a failed turn is not
    retried (its content is never sent again, so the audit stays exact)."""
    load = Load({u: [] for u in users}, started=time.monotonic())
    deadline = load.started + duration_s

    async def user(name: str) -> None:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            for i in count():
                if time.monotonic() >= deadline:
                    return
                content, sent = f"{name} turn {i}", time.monotonic()
                try:
                    resp = await client.post(
                        f"/chat/{name}", json={"role": "user", "content": content}
                    )
                except httpx.TransportError as exc:
                    load.failed[type(exc).__name__] += 1
                else:
                    if resp.status_code == 200:
                        load.acked[name].append((content, int(resp.headers["Turn-Seq"])))
                        load.oks.append((sent, time.monotonic()))
                        continue
                    load.failed[f"{resp.status_code} {code_of(resp)}"] += 1
                await asyncio.sleep(ERROR_PAUSE_S)

    await asyncio.gather(*(user(u) for u in users))
    load.ended = time.monotonic()
    return load


def code_of(resp: httpx.Response) -> object:
    try:
        return resp.json().get("code")
    except (ValueError, AttributeError):
        return resp.text[:80]


def history(app: httpx.Client, user: str) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    params: dict[str, int] = {"limit": 200}
    while True:
        resp = app.get(f"/chat/{user}/history", params=params)
        assert resp.status_code == 200, resp.text
        page = resp.json()
        entries = page["history"] + entries
        if page["next_before"] is None:
            return entries
        params["before"] = page["next_before"]


def lost_or_misplaced(app: httpx.Client, load: Load) -> list[str]:
    """Every acknowledged turn is in its user's history exactly once, at the seq it was
    answered with."""
    broken = []
    for user, acked in load.acked.items():
        asks = [e["content"] for e in history(app, user)[0::2]]
        count = Counter(asks)
        for content, seq in acked:
            if count[content] != 1:
                broken.append(f"{content} (seq {seq}) is in the history {count[content]} times")
            elif asks.index(content) != seq - 1:
                broken.append(f"{content}: answered seq {seq}, is turn {asks.index(content) + 1}")
    return broken


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, str], Path]]:
    run_dir = tmp_path_factory.mktemp("restarts")
    env = stack_env(run_dir)
    started = make("up", env)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        yield env, run_dir
    finally:
        make("down", env)


def app_url(env: dict[str, str]) -> str:
    return f"http://127.0.0.1:{env['AGENT_ACTORS_STACK__APP_PORT']}"


def back_again(run_dir: Path, name: str, old_pid: int, restarts: int) -> dict[str, object]:
    """The part as the supervisor records it, once it runs under a new pid and is ready."""
    deadline = time.monotonic() + BACK_WITHIN_S
    while time.monotonic() < deadline:
        part = parts_of(run_dir).get(name, {})
        if part.get("pid") != old_pid and part.get("state") == "ready":
            assert part["restarts"] == restarts, part
            return part
        time.sleep(0.1)
    raise AssertionError(f"{name} was not back within {BACK_WITHIN_S} s: {parts_of(run_dir)}")


def kill9(run_dir: Path, name: str) -> int:
    pid = pids_of(run_dir)[name]
    os.kill(pid, signal.SIGKILL)
    return pid


def a_turn_succeeds(app: httpx.Client) -> None:
    """A new user's turn: it needs placement (a new actor), the scheduler (the outbox
    reminder), daprd, Redis and the app."""
    resp = app.post(f"/chat/probe-{uuid.uuid4().hex[:8]}", json={"role": "user", "content": "hi"})
    assert resp.status_code == 200, resp.text


async def test_redis_daprd_and_app_killed_under_load_come_back_by_themselves(
    up: tuple[dict[str, str], Path],
) -> None:
    env, run_dir = up
    figures, broken = [], []
    with httpx.Client(base_url=app_url(env), timeout=60) as app:
        for name in ("redis", "daprd", "app"):
            users = [f"{name}-{uuid.uuid4().hex[:6]}-{i}" for i in range(USERS)]
            load = asyncio.create_task(chat(app_url(env), users, PHASE_S))
            await asyncio.sleep(KILL_AT_S)
            killed_at = time.monotonic()
            old = kill9(run_dir, name)
            part = await asyncio.to_thread(back_again, run_dir, name, old, 1)
            run = await load
            a_turn_succeeds(app)
            broken += [f"{name}: {b}" for b in lost_or_misplaced(app, run)]
            first_ok = run.first_ok_after(killed_at)
            figures.append(
                f"{name}: back in {part['last_recovery_s']:.1f} s (supervisor), first acked turn "
                f"{'-' if first_ok is None else f'{first_ok:.1f} s'} after the kill, longest gap "
                f"{run.longest_gap():.1f} s, {len(run.oks)} acked, failed {dict(run.failed)}"
            )
        print("\n" + "\n".join(figures))
    assert broken == []

    status = make("status", env)
    assert status.returncode == 0, status.stderr
    rows = {line.split()[0]: line.split() for line in status.stdout.splitlines()[1:7]}
    for name, restarts in (("redis", 1), ("daprd", 1), ("app", 1), ("placement", 0)):
        assert rows[name][1:2] == ["ready"], status.stdout
        assert rows[name][3] == str(restarts), status.stdout
    assert "signal SIGKILL" in " ".join(rows["redis"]), status.stdout
    log = (run_dir / "logs" / "stack.log").read_text()
    exits = [line for line in log.splitlines() if " exited with " in line]
    assert [e.split(" exited with ")[1].split(":")[0] for e in exits] == ["signal SIGKILL"] * 3, (
        exits
    )


@pytest.mark.parametrize("name", ["placement", "scheduler"])
def test_the_control_plane_killed_comes_back_and_turns_succeed(
    up: tuple[dict[str, str], Path], name: str
) -> None:
    env, run_dir = up
    restarts = int(str(parts_of(run_dir)[name]["restarts"]))
    part = back_again(run_dir, name, kill9(run_dir, name), restarts + 1)
    print(f"\n{name}: back in {part['last_recovery_s']:.1f} s (supervisor)")
    with httpx.Client(base_url=app_url(env), timeout=60) as app:
        a_turn_succeeds(app)


def take(sock: socket.socket, port: int) -> None:
    """Bind ``port`` as soon as the killed Redis has let go of it (well before its first
    restart, a second later)."""
    deadline = time.monotonic() + 0.8
    while True:
        try:
            sock.bind(("127.0.0.1", port))
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005)


def test_a_part_that_keeps_failing_stops_the_stack_saying_why(tmp_path: Path) -> None:
    """Redis is killed and its port taken by someone else: each restart exits at once, and the
    third exit within the window stops everything."""
    env = stack_env(tmp_path, restart_limit=3, restart_backoff_s=1.0)
    started = make("up", env)
    assert started.returncode == 0, started.stdout + started.stderr
    try:
        pids = pids_of(tmp_path)
        supervisor = int((tmp_path / "stack.pid").read_text())
        port = int(env["AGENT_ACTORS_STACK__REDIS_PORT"])
        with socket.socket() as squatter:
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            os.kill(pids["redis"], signal.SIGKILL)
            take(squatter, port)
            squatter.listen()
            deadline = time.monotonic() + BACK_WITHIN_S
            while Path(f"/proc/{supervisor}").exists() and time.monotonic() < deadline:
                time.sleep(0.1)
        left = [n for n, pid in pids.items() if Path(f"/proc/{pid}").exists()]
        assert left == [], f"still running: {left}"
        status = make("status", env)
        assert status.returncode != 0
        assert "agent-actors is not running." in status.stdout
        assert "redis exited 3 times within 60 s (last: code 1)" in status.stdout, status.stdout
        log = (tmp_path / "logs" / "stack.log").read_text()
        assert "error: stopping the stack: redis exited 3 times within 60 s" in log
        assert "bind: Address already in use" in log  # redis's own words, from its log
    finally:
        make("down", env)
