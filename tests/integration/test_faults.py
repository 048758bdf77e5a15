"""Fault injection under load: crashes, restarts, stalls and poison events while users chat.

Each test runs a bounded load (USERS users sending unique turns back to back for LOAD_S
seconds, fault_load.py) on one private stack, injects one fault mid-load, and then checks:

* every acknowledged turn (200) is in its user's history exactly once, in send order, at the
  position its seq names, followed by its own reply (guarantees 1, 2); the load retries a
  failed turn with its Idempotency-Key, so this also checks that a retry never duplicates
  (guarantee 12);
* no answer but 200, 503 or 504; every 503/504 carries a code and a detail; every 503 a
  ``Retry-After`` (guarantee 8; the client has something to act on); and no 500 anywhere:
  the app logs no unexpected error on any route (the subscription's and actors' included);
* no attempt goes unanswered for the client timeout, and none fails at the transport level
  unless the fault took the app itself away;
* within CONVERGE_S of the end of the fault and of the load, every user's memory equals the
  last window of their history and ``pending_events`` is 0 (guarantees 3, 4, 11).

Each test prints one summary line (``pytest -s``); a failure lists every broken check with
an excerpt of the stack's logs from that test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
import redis

from devstack.settings import REPO_ROOT
from tests.integration.fault_load import Audit, LoadRun, LogMark, audit_user, full_history, run_load
from tests.integration.stack_fixture import RunningStack, start_stack

pytestmark = pytest.mark.faults

USERS = 16
LOAD_S = 15.0
FAULT_AT_S = 3.0  # every user has committed turns by then
CLIENT_TIMEOUT_S = 30.0
CONVERGE_S = 10.0
LOG_PATTERNS = (" ERROR ", " WARNING ", "level=error", "level=fatal")
UNEXPECTED = "unexpected error on"  # api/http_errors.py's catch-all (a 500)
ASGI_CRASH = "Exception in ASGI application"


@pytest.fixture(scope="module")
def fstack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """One private stack for this file: every fault below leaves it usable once healed.

    daprd reads a copy of components/: it hot-reloads edited component files, and an edit
    in the middle of a fault test would be a second, unplanned fault."""
    run_dir = tmp_path_factory.mktemp("faults")
    components = shutil.copytree(REPO_ROOT / "components", run_dir / "components")
    yield from start_stack(run_dir, components_dir=components)


@pytest.fixture
def stack(fstack: RunningStack) -> RunningStack:
    """The stack with every part up, resumed and unpaused (a failed test may leave one not)."""
    heal(fstack)
    return fstack


def heal(stack: RunningStack) -> None:
    for proc in list(stack.stack.processes):
        if proc.running():
            assert proc.pid is not None
            os.kill(proc.pid, signal.SIGCONT)
        else:
            restart(stack, proc.name)
    for attempt in (1, 2):  # the client's pooled connection may predate a Redis restart
        try:
            stack.redis.execute_command("CLIENT", "UNPAUSE")
            stack.redis.execute_command("ACL", "SETUSER", "default", "+@all")
            break
        except redis.ConnectionError:
            if attempt == 2:
                raise


def restart(stack: RunningStack, name: str, *, crash: bool = False) -> None:
    """Stop one part and wait until it is ready again. With ``crash`` it is a kill -9 and
    the stack's own watchdog (``stack/restarts.py``, as under ``make up``) brings it back:
    the tests see recovery, not a restart by hand."""
    stack.stack.restart(name, crash=crash)


def pid(stack: RunningStack, name: str) -> int:
    found = stack.stack.process(name).pid
    assert found is not None
    return found


@dataclass
class Fault:
    began: float = 0.0  # when the fault was injected
    back: float = 0.0  # when the part was back (restarted and ready, resumed, unpaused)
    notes: dict[str, Any] = field(default_factory=dict)


@dataclass
class Load:
    """The load as a fault injector sees it while it runs."""

    run: LoadRun  # filled in as answers come
    task: asyncio.Task[LoadRun]
    duration_s: float
    late: list[str]  # users that start only when ``late_start`` is set
    late_start: asyncio.Event

    @property
    def users(self) -> list[str]:
        return self.run.users

    def acknowledged(self, users: list[str]) -> bool:
        """Every one of ``users`` has had a turn acknowledged."""
        return {t.user for t in self.run.acked} >= set(users)


# An injector runs while the load does: it injects its fault and returns when the part is back.
Injector = Callable[[RunningStack, Load], Awaitable[Fault]]


async def under_load(
    stack: RunningStack,
    name: str,
    inject: Injector,
    *,
    transport_errors_ok: bool = False,
    late_users: int = 0,
    duration_s: float = LOAD_S,
) -> tuple[LoadRun, Fault, list[str]]:
    """Run the load with ``inject`` alongside; returns the load, the fault and what broke."""
    run = LoadRun([f"{name}-{uuid.uuid4().hex[:6]}-{i}" for i in range(USERS)])
    late, late_start = run.users[USERS - late_users :], asyncio.Event()
    mark = LogMark(stack.stack.log_dir)
    task = asyncio.create_task(
        run_load(
            stack.app_url,
            run,
            duration_s,
            client_timeout_s=CLIENT_TIMEOUT_S,
            gates=dict.fromkeys(late, late_start),
        )
    )
    try:
        fault = await inject(stack, Load(run, task, duration_s, late, late_start))
    finally:
        late_start.set()  # never leave a user waiting (past the deadline it sends nothing)
        await task
    problems = await asyncio.to_thread(check, stack, run, fault, name, transport_errors_ok, mark)
    return run, fault, problems


# -- the checks ----------------------------------------------------------------------------------


def check(
    stack: RunningStack,
    run: LoadRun,
    fault: Fault,
    name: str,
    transport_errors_ok: bool,
    mark: LogMark,
) -> list[str]:
    problems = answer_problems(run, transport_errors_ok)
    found = Audit()
    for user in run.users:
        found.add(audit_user(run.of(user), full_history(stack.app, user)["history"]))
    for kind in ("lost", "duplicated", "misplaced", "foreign", "unnumbered"):
        items = getattr(found, kind)
        if items:
            problems.append(f"{len(items)} {kind} turns, e.g. {items[:3]}")
    if run.first_ok_after(fault.began) is None:
        problems.append("no turn sent after the fault was acknowledged: the stack never recovered")
    settled_from = max(run.ended, fault.back)
    stuck = converge(stack, run.users, settled_from + CONVERGE_S)
    converge_s = time.monotonic() - settled_from
    if stuck:
        problems.append(
            f"{len(stuck)} users' memory/pending not settled {CONVERGE_S:.0f} s after recovery: "
            + "; ".join(f"{u}: {why}" for u, why in list(stuck.items())[:3])
        )
    app_log = mark.since("app.log")
    # The app's catch-all handler (a 500) or uvicorn's, on any route: the public ones, the
    # subscription daprd calls, the actor routes.
    if unexpected := [ln for ln in app_log if UNEXPECTED in ln or ASGI_CRASH in ln]:
        problems.append(f"{len(unexpected)} unexpected errors (500) in app.log: {unexpected[:2]}")
    gaps = {
        "gap_repairs": sum("had not arrived" in ln for ln in app_log),
        "skipped_seqs": sum("never arrived; skipping" in ln for ln in app_log),
    }
    print(summary(name, run, fault, found, converge_s, settled_from, gaps))
    if problems:
        problems += [f"log excerpt ({stack.stack.log_dir}):", *mark.excerpt(LOG_PATTERNS)]
    return problems


def answer_problems(run: LoadRun, transport_errors_ok: bool) -> list[str]:
    """What the answers themselves break (every attempt, retries included)."""
    problems = []
    tries = run.tries
    if odd := [a for a in tries if a.status is not None and a.status not in (200, 503, 504)]:
        problems.append(
            f"{len(odd)} answers outside 200/503/504 ({dict(Counter(a.outcome for a in odd))}), "
            f"e.g. {odd[0].status} {odd[0].code}: {odd[0].detail}"
        )
    failed = [a for a in tries if a.status in (503, 504)]
    if unexplained := [a for a in failed if not (a.code and a.detail)]:
        problems.append(f"{len(unexplained)} 503/504 without a code and a detail")
    if no_hint := [a for a in failed if a.status == 503 and not a.retry_after]:
        codes = Counter(a.code for a in no_hint)
        problems.append(f"{len(no_hint)} 503 answers without Retry-After ({dict(codes)})")
    # A client timeout is never the fault's doing: every turn must get an answer in time.
    unanswered = [
        a for a in tries if a.status is None and (a.error == "timeout" or not transport_errors_ok)
    ]
    if unanswered:
        problems.append(
            f"{len(unanswered)} attempts without an HTTP answer "
            f"({dict(Counter(str(a.error) for a in unanswered))}; client timeout "
            f"{CLIENT_TIMEOUT_S:.0f} s)"
        )
    return problems


def converge(stack: RunningStack, users: list[str], deadline: float) -> dict[str, str]:
    """Poll until every user's memory is the last window of their history with nothing
    pending, or until ``deadline``; returns the users still unsettled, and why."""
    window = stack.settings.limits.memory_window
    unsettled = {u: "not read yet" for u in users}
    while unsettled:
        for user in list(unsettled):
            why = settled(stack, user, window)
            if why is None:
                del unsettled[user]
            else:
                unsettled[user] = why
        if not unsettled or time.monotonic() >= deadline:
            break
        time.sleep(0.25)
    return unsettled


def settled(stack: RunningStack, user: str, window: int) -> str | None:
    """None when ``user``'s memory equals the last window of history and nothing is pending."""
    hist = stack.app.get(f"/chat/{user}/history", params={"limit": window})
    mem = stack.app.get(f"/memory/{user}")
    if hist.status_code != 200 or mem.status_code != 200:
        return f"history {hist.status_code}, memory {mem.status_code}"
    last, pending = hist.json()["history"], hist.json()["pending_events"]
    memory = mem.json()["memory"]
    if memory == last and pending == 0:
        return None
    return f"memory {short(memory)} != history {short(last)}, pending_events {pending}"


def short(entries: list[dict[str, Any]]) -> list[str]:
    return [str(e.get("content", ""))[:40] for e in entries]


def summary(
    name: str,
    run: LoadRun,
    fault: Fault,
    found: Audit,
    converge_s: float,
    settled_from: float,
    gaps: dict[str, int],
) -> str:
    first_ok = run.first_ok_after(fault.began)
    slowest = max((a.done - a.sent for a in run.tries), default=0.0)
    retried = [t for t in run.turns if len(t.tries) > 1]
    parts = [
        f"[{name}] users={len(run.users)} sent={len(run.turns)} ok={len(run.acked)}",
        f"failed_attempts={dict(run.failures())} retried={len(retried)}",
        f"retried_ok={sum(t.status == 200 for t in retried)}",
        f"replayed={sum(a.replayed for a in run.tries)}",
        f"lost={len(found.lost)} dup={len(found.duplicated)} misplaced={len(found.misplaced)}",
        f"gave_up_but_committed={len(found.committed_failures)}",
        f"fault_to_back={fault.back - fault.began:.1f}s",
        f"fault_to_first_ok={'never' if first_ok is None else f'{first_ok:.1f}s'}",
        f"longest_no_ok={run.longest_gap():.1f}s slowest_attempt={slowest:.1f}s",
        f"settled_in={converge_s:.1f}s (from load end+{settled_from - run.ended:.1f}s)",
        *(f"{k}={v}" for k, v in gaps.items()),
        *(f"{k}={v}" for k, v in fault.notes.items()),
    ]
    return " ".join(parts)


def assert_no_problems(problems: list[str]) -> None:
    assert not problems, "\n".join(problems)


async def sleep_until(moment: float) -> None:
    await asyncio.sleep(max(0.0, moment - time.monotonic()))


# -- the faults ----------------------------------------------------------------------------------


async def test_poison_events_leave_memory_and_later_turns_alone(stack: RunningStack) -> None:
    """A malformed event and a forged one with a huge seq for a chatting user (published
    through daprd, which is trusted) change neither that user's memory nor later turns."""
    stats_before = stack.app.get("/events/stats").json()

    async def inject(stack: RunningStack, load: Load) -> Fault:
        await asyncio.sleep(FAULT_AT_S)
        fault = Fault(began=time.monotonic())
        forged = {
            "event_type": "ConversationUpdated",
            "user_id": load.users[0],
            "seq": 10**9,
            "input": {"role": "user", "content": "FORGED input"},
            "output": {"role": "assistant", "content": "FORGED output"},
            "timestamp": datetime.now(UTC).isoformat(),
        }
        malformed = {"user_id": load.users[1], "seq": "not a number"}
        for body in (malformed, forged):
            resp = await asyncio.to_thread(publish, stack, body)
            assert resp == 204, f"daprd refused the publish: {resp}"
        fault.back = time.monotonic()
        return fault

    run, _fault, problems = await under_load(stack, "poison", inject)
    stats = stack.app.get("/events/stats").json()
    counts = ("received", "dropped", "retried", "dead_letters")
    print("[poison] events/stats delta:", {k: stats[k] - stats_before[k] for k in counts})
    if stats["dropped"] < stats_before["dropped"] + 1:
        problems.append(f"the malformed event was not dropped: {stats_before} -> {stats}")
    forged_seen = [
        u for u in run.users if "FORGED" in str(stack.app.get(f"/memory/{u}").json()["memory"])
    ]
    if forged_seen:
        problems.append(f"the forged event reached the memory of {forged_seen}")
    assert_no_problems(problems)


def publish(stack: RunningStack, body: object) -> int:
    d = stack.settings.dapr
    return stack.daprd.post(f"/v1.0/publish/{d.pubsub_name}/{d.topic}", json=body).status_code


async def test_publishing_hang_redis_write_pause(stack: RunningStack) -> None:
    """Redis takes no write for 8 s (``CLIENT PAUSE <ms> WRITE``): publishing hangs.

    Why a write pause rather than SIGSTOP: it is the broker hanging without going away (the
    TCP connections stay up, reads keep working so the checks can watch), it ends by itself
    even if the test dies, and it hangs XADD (publish) and the stream's XREADGROUP/XACK.
    It also holds actor-state writes, so turns in flight wait too (daprd's Redis client gives
    up after a few seconds: those answer 503 and the load retries them): a paused Redis is
    the only way to hang the real publish path without changing the service.
    """
    pause_s = 8.0

    async def inject(stack: RunningStack, _load: Load) -> Fault:
        await asyncio.sleep(FAULT_AT_S)
        fault = Fault(began=time.monotonic(), notes={"pause_s": pause_s})
        stack.redis.execute_command("CLIENT", "PAUSE", int(pause_s * 1000), "WRITE")
        fault.back = fault.began + pause_s
        await sleep_until(fault.back)
        return fault

    _run, _fault, problems = await under_load(stack, "pubhang", inject)
    assert_no_problems(problems)


async def test_scheduler_stopped_while_users_join_and_publishing_fails(
    stack: RunningStack,
) -> None:
    """The scheduler (reminders) hangs (SIGSTOP) for 30 s while users chat.

    Half the users have a turn acknowledged (and so their outbox watchdog reminder) before
    the stop; the other half start once it is stopped, so their first turn's reminder
    registration meets a hung scheduler. For the last 5 s of the load publishing is refused
    (ACL), so the last turns' events are left to the outbox reminders, which can fire only
    once the scheduler is back (SIGCONT at the end of the load)."""
    stop_s, refused_s = 30.0, 5.0

    async def inject(stack: RunningStack, load: Load) -> Fault:
        scheduler = pid(stack, "scheduler")
        early = [u for u in load.users if u not in load.late]
        # Polled: the load records answers as they come and signals nothing.
        while not load.acknowledged(early) and not load.task.done():  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        fault = Fault(began=time.monotonic(), notes={"stop_s": stop_s})
        os.kill(scheduler, signal.SIGSTOP)
        load.late_start.set()
        try:
            await sleep_until(load.run.started + load.duration_s - refused_s)
            stack.redis.execute_command("ACL", "SETUSER", "default", "-@stream")
            refused = time.monotonic()
            await asyncio.wait({load.task})
            stack.redis.execute_command("ACL", "SETUSER", "default", "+@all")
            fault.notes["publish_refused_s"] = round(time.monotonic() - refused, 1)
            await sleep_until(fault.began + stop_s)
        finally:
            os.kill(scheduler, signal.SIGCONT)
            stack.redis.execute_command("ACL", "SETUSER", "default", "+@all")
        fault.back = time.monotonic()
        return fault

    # The stop starts within a second or so of the load; the load lasts about as long.
    _run, _fault, problems = await under_load(
        stack, "sched", inject, late_users=USERS // 2, duration_s=stop_s + 1.0
    )
    assert_no_problems(problems)


def crash_of(part: str) -> Injector:
    """kill -9 ``part`` mid-load; the stack's watchdog brings it back."""

    async def inject(stack: RunningStack, _load: Load) -> Fault:
        await asyncio.sleep(FAULT_AT_S)
        fault = Fault(began=time.monotonic())
        await asyncio.to_thread(restart, stack, part, crash=True)
        fault.back = time.monotonic()
        return fault

    return inject


async def test_app_killed_mid_turn_and_restarted(stack: RunningStack) -> None:
    # While the app is down its clients' connections fail: that is the fault, not a defect.
    _run, _fault, problems = await under_load(
        stack, "appkill", crash_of("app"), transport_errors_ok=True
    )
    assert_no_problems(problems)


async def test_daprd_killed_mid_turn_and_restarted(stack: RunningStack) -> None:
    _run, _fault, problems = await under_load(stack, "daprdkill", crash_of("daprd"))
    assert_no_problems(problems)


@pytest.mark.parametrize("crash", [False, True], ids=["sigterm", "kill9"])
async def test_redis_restarted_mid_load(stack: RunningStack, crash: bool) -> None:
    """Redis stops (SIGTERM: it finishes its AOF; or kill -9) and starts again from its AOF
    (appendfsync everysec: a killed process loses nothing the kernel already has)."""

    async def inject(stack: RunningStack, _load: Load) -> Fault:
        await asyncio.sleep(FAULT_AT_S)
        fault = Fault(began=time.monotonic())
        await asyncio.to_thread(restart, stack, "redis", crash=crash)
        fault.back = time.monotonic()
        with contextlib.suppress(redis.ConnectionError):
            stack.redis.ping()  # drop the test client's stale connection now
        return fault

    name = "rediskill" if crash else "redisrestart"
    _run, _fault, problems = await under_load(stack, name, inject)
    assert_no_problems(problems)
