"""Failover: a whole app+daprd pair dies (kill -9) while users chat through the other pair.

No acknowledged turn is lost, calls in flight on the dead pair fail with a reason (503/504,
never a hang past the actor call timeout), and every user's turns succeed again on the
remaining pair (placement moves the dead pair's actors there); the time until then is printed.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.integration.fault_load import Audit, LoadRun, audit_user, full_history, run_load
from tests.integration.stack_fixture import RunningStack, start_stack

pytestmark = pytest.mark.faults

USERS = 32
LOAD_S = 20.0
KILL_AT_S = 4.0
ACTOR_CALL_TIMEOUT_S = 60.0


@pytest.fixture(scope="module")
def two_pairs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    # The dead pair stays down 10 s (its restart backoff): the load runs on without it.
    yield from start_stack(
        tmp_path_factory.mktemp("failover"),
        replicas=2,
        stack_options={"restart_backoff_s": 10.0},
    )


async def test_a_pair_killed_under_load_loses_no_turn(two_pairs: RunningStack) -> None:
    run = LoadRun([f"fo-{uuid.uuid4().hex[:6]}-{i}" for i in range(USERS)])
    load = asyncio.create_task(run_load(two_pairs.app_url, run, LOAD_S, client_timeout_s=90))
    await asyncio.sleep(KILL_AT_S)
    killed_at = time.monotonic()
    for name in ("app-1", "daprd-1"):  # the whole second pair, as a lost node would
        two_pairs.stack.process(name).kill()
    await load

    audit = Audit()
    for user in run.users:
        entries = full_history(two_pairs.app, user)["history"]
        audit.add(audit_user(run.of(user), entries))
    assert (audit.lost, audit.duplicated, audit.misplaced) == ([], [], [])
    assert set(run.failures()) <= {"503", "504"}, run.failures()
    slowest = max(a.done - a.sent for a in run.tries)
    assert slowest < ACTOR_CALL_TIMEOUT_S  # nothing hangs until the actor call timeout
    back = [
        min((t.done for t in run.of(u) if t.status == 200 and t.sent > killed_at), default=None)
        for u in run.users
    ]
    assert None not in back, "a user's turns never succeeded again after the kill"
    recovery_s = max(b - killed_at for b in back if b is not None)
    print(
        f"\n[failover] users={USERS} turns={len(run.turns)} acked={len(run.acked)} "
        f"failed_attempts={dict(run.failures())} lost=0 slowest_attempt={slowest:.1f}s "
        f"every_user_back_after={recovery_s:.1f}s"
    )
