"""Retention erases everything DELETE erases, on the real stack, whatever the turns did.

The model always fails here (the stub's mode is ``fail503``; a message with a marker, e.g.
``[[delay:0]]``, still gets an answer): a conversation whose every turn failed has left model
call records (and a long turn its ``turn`` key and ``meta``), and none of it may outlive the
retention. Nothing of the user may: every Redis key is scanned, by name and by value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from tools.openai_stub.server import StubServer

from tests.integration.chat_client import eventually
from tests.integration.stack_fixture import RunningStack, start_stack

RETENTION_S = 2
# Past the retention: the reminder fires RETENTION_S after it was armed (the scheduler's time)
# and the erasure takes a few actor calls.
ERASED_WITHIN_S = RETENTION_S + 20
ASYNC = {"Prefer": "respond-async"}


@pytest.fixture(scope="module")
def failing(stub: StubServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    stub.state.mode = "fail503"
    env = {
        "OPENAI_BASE_URL": stub.url,
        "OPENAI_API_KEY": "test-key",
        "OPENAI_MODEL": "stub-model",
        "AGENT_ACTORS_LLM__TIMEOUT_S": "2",
        "AGENT_ACTORS_LLM__MAX_RETRIES": "0",
    }
    yield from start_stack(
        tmp_path_factory.mktemp("erase"), extra_env=env, retention_s=float(RETENTION_S)
    )


def traces(stack: RunningStack, user: str, streams: bool = True) -> list[str]:
    """Every Redis key that names ``user``, or whose value does (``streams``: the pub/sub
    topics' streams included)."""
    found = []
    for key in stack.redis.scan_iter("*"):
        if user in key:
            found.append(key)
        elif (streams or stack.redis.type(key) != "stream") and user in value_text(stack, key):
            found.append(f"{key} (its value)")
    return sorted(found)


def value_text(stack: RunningStack, key: str) -> str:
    r = stack.redis
    kind = r.type(key)
    value: Any = None
    if kind == "hash":
        value = r.hgetall(key)
    elif kind == "string":
        value = r.get(key)
    elif kind == "stream":
        value = r.xrange(key)
    elif kind == "list":
        value = r.lrange(key, 0, -1)
    elif kind in ("set", "zset"):
        value = list(r.sscan_iter(key)) if kind == "set" else r.zrange(key, 0, -1)
    return json.dumps(value, default=str)


def erased(stack: RunningStack, user: str, streams: bool = True) -> None:
    # On failure: what was still in Redis ERASED_WITHIN_S seconds after the last turn.
    eventually(lambda: traces(stack, user, streams), lambda t: t == [], timeout=ERASED_WITHIN_S)


def test_a_conversation_whose_only_turn_failed_is_erased(failing: RunningStack, user: str) -> None:
    resp = failing.app.post(f"/chat/{user}", json={"role": "user", "content": "hello?"})
    assert resp.status_code >= 500, resp.text
    # the failed call's record is kept (GET /chat/{id}/calls shows why the turn failed)
    assert any("||ResponseAgent||" in k for k in traces(failing, user))
    erased(failing, user)


def test_a_conversation_whose_only_long_turn_failed_is_erased(
    failing: RunningStack, user: str
) -> None:
    started = failing.app.post(
        f"/chat/{user}", json={"role": "user", "content": "later?"}, headers=ASYNC
    )
    assert started.status_code == 202, started.text

    def turn() -> dict[str, Any]:
        body: dict[str, Any] = failing.app.get(f"/chat/{user}/turns/1", params={"wait": 5}).json()
        return body

    eventually(turn, lambda t: t.get("status") == "failed")
    left = traces(failing, user)
    assert any(k.endswith("||turn") for k in left), left
    assert any("||ResponseAgent||" in k for k in left), left
    erased(failing, user)


def dead_letter(stack: RunningStack, user: str) -> None:
    """A ConversationUpdated of ``user``'s turn 1, published to the dead-letter topic as Dapr
    does with an event it gave up on."""
    event = {
        "event_type": "ConversationUpdated",
        "user_id": user,
        "conversation": "c",
        "seq": 1,
        "input": {"role": "user", "content": "q"},
        "output": {"role": "assistant", "content": "a"},
        "timestamp": datetime.now(UTC).isoformat(),
    }
    d = stack.settings.dapr
    published = stack.daprd.post(f"/v1.0/publish/{d.pubsub_name}/{d.dead_letter_topic}", json=event)
    assert published.status_code == 204, published.text


def test_retention_erases_the_users_dead_letters(failing: RunningStack, user: str) -> None:
    # this one message gets an answer: a committed turn, then an event of it dead-lettered
    resp = failing.app.post(f"/chat/{user}", json={"role": "user", "content": "[[delay:0]] hi"})
    assert resp.status_code == 200, resp.text
    dead_letter(failing, user)
    key = f"agent-actors||dead-letters|user|{user}"
    eventually(lambda: failing.redis.exists(key), bool)  # the dead letter is recorded
    # The topics' streams keep their last events (maxLenApprox in components/pubsub.yaml)
    # whatever becomes of the conversation: only the app's own keys are checked here.
    erased(failing, user, streams=False)


def test_a_dead_letter_of_an_erased_conversation_is_not_recorded(
    failing: RunningStack, user: str
) -> None:
    """A DELETE while an event is in pub/sub's retries: the letter that arrives afterwards
    would bring the user's data back, and nothing would erase it again."""
    resp = failing.app.post(f"/chat/{user}", json={"role": "user", "content": "[[delay:0]] hi"})
    assert resp.status_code == 200, resp.text
    assert failing.app.delete(f"/chat/{user}").status_code == 204
    before = failing.app.get("/events/stats").json()
    dead_letter(failing, user)
    d = failing.settings.dapr
    # The dead-letter route answered it (daprd's consumer group holds nothing unacked).
    answered = eventually(
        lambda: [g["pending"] for g in failing.redis.xinfo_groups(d.dead_letter_topic)],
        lambda pending: pending == [0] * len(pending) and pending != [],
    )
    assert answered, "no consumer group on the dead-letter topic"
    assert all(p == 0 for p in answered), answered
    assert failing.app.get("/events/stats").json()["dead_letters"] == before["dead_letters"]
    erased(failing, user, streams=False)
