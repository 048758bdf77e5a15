"""The watchdog that restarts parts of the stack, on real (tiny) processes: `sleep` stands in
for a part, `false` for one that cannot start."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devstack.errors import StackError
from devstack.process import ManagedProcess
from devstack.restarts import RestartPolicy, Watchdog, exit_status

FAST = RestartPolicy(backoff_s=0.05, backoff_max_s=0.2, limit=3, window_s=60)


@dataclass
class FakeStack:
    """What the watchdog uses of a Stack: its processes and its lock."""

    processes: list[ManagedProcess] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)


def part(tmp_path: Path, name: str, argv: list[str]) -> ManagedProcess:
    return ManagedProcess(name, argv, tmp_path / f"{name}.log", ready=lambda: True)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[FakeStack]:
    fake = FakeStack(
        [part(tmp_path, "redis", ["sleep", "60"]), part(tmp_path, "app", ["sleep", "60"])]
    )
    for proc in fake.processes:
        proc.start()
    yield fake
    for proc in fake.processes:
        proc.stop(grace_s=1)


def watch(stack: FakeStack, policy: RestartPolicy = FAST) -> Watchdog:
    dog = Watchdog(stack, policy)  # type: ignore[arg-type]
    dog.start()
    return dog


def test_backoff_doubles_from_the_first_delay_up_to_the_cap() -> None:
    policy = RestartPolicy(backoff_s=0.5, backoff_max_s=10, limit=5, window_s=60)
    assert [policy.delay(n) for n in range(1, 8)] == [0.5, 1, 2, 4, 8, 10, 10]


@pytest.mark.parametrize(
    ("code", "text"),
    [(-9, "signal SIGKILL"), (-15, "signal SIGTERM"), (1, "code 1"), (0, "code 0")],
)
def test_exit_status_names_the_signal(code: int, text: str) -> None:
    assert exit_status(code) == text


def test_a_killed_part_is_started_again_and_the_others_keep_running(
    stack: FakeStack, caplog: pytest.LogCaptureFixture
) -> None:
    redis, app = stack.processes
    app_pid, old = app.pid, redis.pid
    dog = watch(stack)
    try:
        with caplog.at_level(logging.INFO, logger="devstack"):
            redis.kill()
            took = dog.wait_back("redis", 0, time.monotonic() + 10)
    finally:
        dog.stop()
    assert redis.running()
    assert redis.pid != old
    assert app.pid == app_pid
    assert app.running()
    assert took >= FAST.backoff_s
    states = {p["name"]: p for p in dog.snapshot()}
    assert states["redis"]["restarts"] == 1
    assert states["redis"]["state"] == "ready"
    assert states["redis"]["last_exit"] == "signal SIGKILL"
    assert states["app"]["restarts"] == 0
    exits = [r.getMessage() for r in caplog.records if " exited with " in r.getMessage()]
    assert len(exits) == 1
    assert f"redis (pid {old}) exited with signal SIGKILL: restart 1 in" in exits[0]


def test_a_part_that_keeps_failing_makes_it_give_up_saying_why(tmp_path: Path) -> None:
    stack = FakeStack([part(tmp_path, "placement", ["sleep", "60"])])
    proc = stack.processes[0]
    proc.start()
    proc.argv = ["false"]  # every restart exits at once with code 1
    dog = watch(stack)
    try:
        proc.kill()
        with pytest.raises(StackError, match="gave up"):
            dog.wait_back("placement", 10, time.monotonic() + 10)
    finally:
        dog.stop()
    assert dog.gave_up is not None
    assert dog.gave_up.startswith("placement exited 3 times within 60 s (last: code 1)")
    assert dog.parts["placement"].restarts == 2
    assert dog.parts["placement"].state == "failed"


def test_exits_outside_the_window_do_not_add_up(tmp_path: Path) -> None:
    stack = FakeStack([part(tmp_path, "daprd", ["sleep", "60"])])
    proc = stack.processes[0]
    proc.start()
    dog = watch(stack, RestartPolicy(backoff_s=0.01, backoff_max_s=0.01, limit=2, window_s=0.3))
    try:
        for restarts in range(3):
            proc.kill()
            dog.wait_back("daprd", restarts, time.monotonic() + 10)
            time.sleep(0.4)  # the window moves on: each exit is the only one in it
    finally:
        dog.stop()
        proc.stop(grace_s=1)
    assert dog.gave_up is None
    assert dog.parts["daprd"].restarts == 3


def test_a_restart_by_hand_is_not_a_crash(stack: FakeStack) -> None:
    redis = stack.processes[0]
    dog = watch(stack)
    try:
        with stack.lock:  # as Stack.restart does
            redis.stop(grace_s=1)
            redis.start()
        time.sleep(0.3)
    finally:
        dog.stop()
    assert dog.parts["redis"].restarts == 0
    assert dog.parts["redis"].exits == type(dog.parts["redis"].exits)()
    assert dog.parts["redis"].state == "ready"


def test_stopped_watchdog_restarts_nothing(stack: FakeStack) -> None:
    redis = stack.processes[0]
    dog = watch(stack)
    dog.stop()
    redis.kill()
    time.sleep(0.3)
    assert not redis.running()
    assert dog.parts["redis"].restarts == 0


def test_a_part_that_cannot_be_started_again_counts_as_failing(tmp_path: Path) -> None:
    stack = FakeStack([part(tmp_path, "scheduler", ["sleep", "60"])])
    proc = stack.processes[0]
    proc.start()
    proc.argv = [str(tmp_path / "gone")]  # the binary was deleted meanwhile
    dog = watch(stack)
    try:
        proc.kill()
        with pytest.raises(StackError, match="gave up"):
            dog.wait_back("scheduler", 10, time.monotonic() + 10)
    finally:
        dog.stop()
    assert dog.gave_up is not None
    assert "scheduler exited 3 times within 60 s (last: could not be started (" in dog.gave_up


def test_a_restarted_part_never_ready_is_stopped_and_counts_as_a_failed_start(
    tmp_path: Path,
) -> None:
    # Running, but never answering its readiness probe (a daprd that cannot reach placement).
    stuck = ManagedProcess("daprd", ["sleep", "60"], tmp_path / "daprd.log", ready=lambda: False)
    stack = FakeStack([stuck])
    stuck.start()
    dog = watch(stack, RestartPolicy(backoff_s=0.01, backoff_max_s=0.01, limit=3, ready_s=0.2))
    try:
        stuck.kill()
        with pytest.raises(StackError, match="gave up"):
            dog.wait_back("daprd", 10, time.monotonic() + 5)
    finally:
        dog.stop()
        stuck.stop(grace_s=1)
    assert dog.gave_up is not None
    assert dog.gave_up.startswith("daprd exited 3 times within 60 s (last: not ready within 0.2 s")
    assert dog.parts["daprd"].restarts == 2
    assert not stuck.running()  # the last one stopped too, not left half started


def test_make_up_echoes_the_build_and_each_part_as_they_come(tmp_path: Path) -> None:
    from devstack.cli import Progress

    log = tmp_path / "stack.log"
    log.write_text("old run: starting redis\n")
    progress = Progress(log)  # only what this start writes
    with log.open("a") as f:
        f.write("dapr-build: still building daprd (30s)\nnoise\n2026 INFO starting placement")
    assert progress.lines() == ["dapr-build: still building daprd (30s)"]
    with log.open("a") as f:
        f.write(" (log: x)\n2026 INFO placement ready in 0.4s (pid 7)\n")
    assert progress.lines() == [
        "2026 INFO starting placement (log: x)",
        "2026 INFO placement ready in 0.4s (pid 7)",
    ]
