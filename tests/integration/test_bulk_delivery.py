"""ConversationUpdated in bulk (``bulkSubscribe`` in components/subscription.yaml, shipped off,
turned on here): one request from daprd carries several events, each answered by its own
status. On the real stack: every event is delivered once, and an entry answered RETRY is
retried alone (its batch's other entries are not applied again) until it is applied.

A failing entry is made the way a store outage makes it: Redis refuses writes to one user's
MemoryAgentActor keys (an ACL) while every other key stays writable. The stack gets a retry
window of ~6 s (a copy of components/ with a rewritten resiliency.yaml).
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml

from tests.integration.chat_client import chat, eventually, history, memory
from tests.integration.stack_fixture import RunningStack, start_stack
from tests.integration.test_memory_repair import components_with_retries

TURNS = 3


def bulk_on(path: Path) -> None:
    """components/subscription.yaml with ConversationUpdated's bulkSubscribe turned on."""
    docs = list(yaml.safe_load_all(path.read_text()))
    spec = next(d["spec"] for d in docs if d["spec"]["routes"]["default"] == "/subscribe")
    assert "bulkSubscribe" in spec  # shipped off, with its settings
    spec["bulkSubscribe"]["enabled"] = True
    path.write_text(yaml.safe_dump_all(docs))


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    components = components_with_retries(tmp_path_factory.mktemp("bulk") / "c", 20, "300ms")
    bulk_on(components / "subscription.yaml")
    yield from start_stack(
        tmp_path_factory.mktemp("bulk-run"), components_dir=components, memory_window=2 * TURNS
    )


def stats(stack: RunningStack) -> dict[str, Any]:
    body: dict[str, Any] = stack.app.get("/events/stats").json()
    return body


def settled(stack: RunningStack) -> bool:
    groups = stack.redis.xinfo_groups(stack.settings.dapr.topic)
    return all(g["pending"] == 0 for g in groups)


def tail(stack: RunningStack, user: str) -> list[dict[str, Any]]:
    return list(history(stack.app, user, limit=2 * TURNS)["history"])


def test_every_event_of_concurrent_users_is_delivered_once(stack: RunningStack) -> None:
    users = [f"bulk-{i}" for i in range(8)]
    before = stats(stack)

    def turns(user: str) -> None:
        for n in range(1, TURNS + 1):
            chat(stack.app, user, f"turn {n}")

    with ThreadPoolExecutor(len(users)) as pool:
        list(pool.map(turns, users))
    for user in users:
        eventually(lambda u=user: memory(stack.app, u), lambda m, u=user: m == tail(stack, u))
    eventually(lambda: settled(stack), bool)
    after = stats(stack)
    assert after["received"] - before["received"] == len(users) * TURNS
    assert (after["retried"], after["dropped"]) == (before["retried"], before["dropped"])


@contextmanager
def memory_writes_refused_for(r: redis.Redis, user: str) -> Iterator[None]:
    """Writes to ``user``'s MemoryAgentActor keys fail; the other actors', the dead letters',
    the stream's and the Memory keys of users named ``ok-*`` stay writable."""
    assert not user.startswith("ok-")
    r.execute_command(
        "ACL",
        "SETUSER",
        "default",
        "resetkeys",
        "%R~*",
        "%RW~agent-actors||ChatAgent||*",
        "%RW~agent-actors||ResponseAgent||*",
        "%RW~agent-actors||dead-letters|*",
        "%RW~user-chat*",
        "%RW~agent-actors||MemoryAgentActor||ok-*",
    )
    try:
        yield
    finally:
        r.execute_command("ACL", "SETUSER", "default", "resetkeys", "~*")


def test_a_failed_entry_is_retried_alone_until_it_is_applied(stack: RunningStack) -> None:
    failing, fine = "bulk-failing", "ok-bulk-fine"
    for user in (failing, fine):  # activate both, so only the refused write fails
        chat(stack.app, user, "turn 1")
        eventually(lambda u=user: memory(stack.app, u), lambda m: len(m) == 2)
    eventually(lambda: settled(stack), bool)
    before = stats(stack)
    with memory_writes_refused_for(stack.redis, failing):
        with ThreadPoolExecutor(2) as pool:  # at once: one batch, as often as not
            list(pool.map(lambda u: chat(stack.app, u, "turn 2"), (failing, fine)))
        # The other user's turn is applied while the failing one's is retried.
        eventually(lambda: memory(stack.app, fine), lambda m: m == tail(stack, fine))
        eventually(lambda: stats(stack)["retried"], lambda n: n >= before["retried"] + 2)
        assert len(memory(stack.app, failing)) == 2
    eventually(lambda: memory(stack.app, failing), lambda m: m == tail(stack, failing))
    eventually(lambda: settled(stack), bool)
    after = stats(stack)
    # The fine entry came once; the failing one until it was applied (each a RETRY but the
    # last), never dead-lettered.
    assert after["received"] - before["received"] == 2 + after["retried"] - before["retried"]
    assert stack.app.get(f"/memory/{failing}/dead-letters").json()["total"] == 0
