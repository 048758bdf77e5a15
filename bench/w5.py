"""W5, failover: kill -9 a whole app+daprd pair while 64 users send turns through the other.

A 2-pair stack; every user sends turns back to back through pair 0's app (each turn's content
unique). After ``w5_kill_at_s`` pair 1's app and daprd are killed (SIGKILL, as a lost node);
their restart backoff keeps them down for the rest of the run, so what is measured is the
service on the remaining pair. A failed turn is not retried (the user pauses briefly and sends
the next one): the audit is then exact.

- ``w5_lost_turns``: turns answered 200 whose content is not in the user's history (read back
  through pair 0 after the load); ``w5_duplicated_turns``: ones that are there more than once.
  Goal 0 for both. The benchmark sends no Idempotency-Key (a key would turn a second delivery
  of the same request into a replay, as in tests/integration/test_failover.py), so a
  duplicate here is a request the service itself delivered twice.
- ``w5_recovery_s``: from the kill until every user has had a turn sent after the kill answer
  200 (the slowest user). Goal <= 5 s. Placement moves the dead pair's actors only after the
  surviving daprd has drained its ongoing calls and the new table has been disseminated
  (docs/architecture.md "Replicas and moves"), which bounds how low this can go.
- the p99 of every attempt (failed ones included) that ended inside the failover window
  [kill, kill + recovery], and the slowest attempt overall (nothing may hang until the actor
  call timeout).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.client import Connection, Connections, HttpError
from bench.display import Display
from bench.load import latency_ms
from bench.sizes import Sizes
from devstack.private import PrivateStack, private_stack

FAIL_PAUSE_S = 0.1  # after a failed turn: no busy loop of 503s
HISTORY_PAGE = 200
# The killed pair stays down for the whole run (the supervisor's restart backoff).
DOWN_S = 60.0


@dataclass(frozen=True)
class Attempt:
    user: str
    content: str
    sent: float
    done: float
    outcome: str  # the HTTP status, or "transport"


async def run_w5(run_dir: Path, sizes: Sizes, display: Display, tag: str) -> dict[str, Any]:
    options = {"restart_backoff_s": DOWN_S, "restart_backoff_max_s": DOWN_S}
    with private_stack(
        run_dir, app_api_token=secrets.token_hex(16), replicas=2, stack_options=options
    ) as stack:
        return await failover(stack, sizes, display, tag)


async def failover(stack: PrivateStack, sizes: Sizes, display: Display, tag: str) -> dict[str, Any]:
    users = [f"{tag}-w5-{i}" for i in range(sizes.w5_users)]
    port = stack.pairs[0].app
    attempts: list[Attempt] = []
    t0 = time.monotonic()
    end = t0 + sizes.w5_kill_at_s + sizes.w5_after_kill_s

    async def user_loop(conn: Connection, user: str) -> None:
        i = 0
        while time.monotonic() < end:
            content = f"{user} turn {i}"
            sent = time.monotonic()
            try:
                resp = await conn.post(f"/chat/{user}", {"content": content})
                outcome = str(resp.status_code)
            except HttpError:
                outcome = "transport"
            attempts.append(Attempt(user, content, sent, time.monotonic(), outcome))
            if outcome != "200":
                await asyncio.sleep(FAIL_PAUSE_S)
            i += 1

    total = sizes.w5_kill_at_s + sizes.w5_after_kill_s
    with display.task(f"W5 failover, {len(users)} users", total=total) as task:
        async with Connections("127.0.0.1", port) as conns:
            load = asyncio.gather(*(user_loop(conns[i], u) for i, u in enumerate(users)))
            await asyncio.sleep(sizes.w5_kill_at_s)
            killed_at = time.monotonic()
            for name in ("app-1", "daprd-1"):  # the whole second pair
                stack.stack.process(name).kill()
            task.update(sizes.w5_kill_at_s, "pair 1 killed")
            await load
        task.update(total, f"{len(attempts)} turns")
        async with Connections("127.0.0.1", port) as reader:
            histories = await asyncio.gather(*(history(reader[i], u) for i, u in enumerate(users)))
    return summarize(users, attempts, dict(zip(users, histories, strict=True)), killed_at)


async def history(conn: Connection, user: str) -> list[str] | None:
    """The contents of ``user``'s own (role user) entries, every page; None if unreadable."""
    contents: list[str] = []
    query = f"limit={HISTORY_PAGE}"
    for _ in range(1000):
        resp = await conn.get(f"/chat/{user}/history?{query}")
        if resp.status_code != 200:
            return None
        page = resp.json()
        contents = [e["content"] for e in page["history"] if e["role"] == "user"] + contents
        if page["next_before"] is None:
            return contents
        query = f"limit={HISTORY_PAGE}&before={page['next_before']}"
    return None


def summarize(
    users: list[str],
    attempts: list[Attempt],
    histories: dict[str, list[str] | None],
    killed_at: float,
) -> dict[str, Any]:
    acked = [a for a in attempts if a.outcome == "200"]
    counts = {u: Counter(h or []) for u, h in histories.items()}
    lost = [a.content for a in acked if counts[a.user][a.content] == 0]
    duplicated = [a.content for a in acked if counts[a.user][a.content] > 1]
    unreadable = [u for u, h in histories.items() if h is None]
    back = {
        u: min((a.done for a in acked if a.user == u and a.sent >= killed_at), default=None)
        for u in users
    }
    never = [u for u, b in back.items() if b is None]
    recovery = None if never else max(b - killed_at for b in back.values() if b is not None)
    window_end = killed_at + (recovery if recovery is not None else float("inf"))
    in_window = [a.done - a.sent for a in attempts if killed_at <= a.done <= window_end]
    in_flight = [a for a in attempts if a.sent < killed_at < a.done]
    before = [a for a in acked if a.done < killed_at]
    after = [a for a in acked if recovery is not None and a.sent >= window_end]
    last_done = max((a.done for a in attempts), default=killed_at)
    first_sent = min((a.sent for a in attempts), default=killed_at)
    return {
        "users": len(users),
        "kill_at_s": round(killed_at - first_sent, 2),
        "turns": len(attempts),
        "acked": len(acked),
        "failed_by_outcome": dict(Counter(a.outcome for a in attempts if a.outcome != "200")),
        "w5_lost_turns": len(lost) if not unreadable else None,
        "w5_duplicated_turns": len(duplicated) if not unreadable else None,
        "lost": lost[:20],
        "duplicated": duplicated[:20],
        "unreadable_histories": unreadable,
        "w5_recovery_s": round(recovery, 2) if recovery is not None else None,
        "users_never_back": len(never),
        "users_back_by_s": sorted(round(b - killed_at, 2) for b in back.values() if b is not None),
        "failover_window_attempts": len(in_window),
        "w5_failover_p99_ms": latency_ms(in_window)["p99_ms"],
        "failover_window_p50_ms": latency_ms(in_window)["p50_ms"],
        "in_flight_at_kill": dict(Counter(a.outcome for a in in_flight)),
        "slowest_attempt_s": round(max((a.done - a.sent for a in attempts), default=0.0), 2),
        "turns_per_s_before_kill": round(len(before) / (killed_at - first_sent), 2)
        if killed_at > first_sent
        else None,
        "turns_per_s_after_recovery": round(len(after) / (last_done - window_end), 2)
        if after and last_done > window_end
        else None,
        **{f"before_kill_{k}": v for k, v in latency_ms([a.done - a.sent for a in before]).items()},
    }
