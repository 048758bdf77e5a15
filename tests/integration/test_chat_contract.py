"""The tutorial's contract and its seven validation points, on a fresh real stack."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.integration.chat_client import chat, count, eventually, history, memory
from tests.integration.stack_fixture import RunningStack, start_stack

STAMP = re.compile(r" at (\d{4}-\d\d-\d\dT[\d:.]+\+00:00)$")


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A stack of its own: the dashboard counts below must see only user1 and user2."""
    # DEBUG: the story of a turn hop by hop (at INFO, one line per turn and one per event).
    yield from start_stack(
        tmp_path_factory.mktemp("tutorial"), extra_env={"AGENT_ACTORS_LOG_LEVEL": "DEBUG"}
    )


def test_tutorial_validation_points(fresh: RunningStack) -> None:
    app = fresh.app
    # 1. a timestamped reply with memory context
    first = chat(app, "user1", "Hi, I am user1")["response"]
    assert first["role"] == "assistant"
    assert first["content"].startswith("Memory: Message count: 1. Got your message: Hi, I am user1")
    match = STAMP.search(first["content"])
    assert match, first["content"]
    datetime.fromisoformat(match.group(1))
    eventually(lambda: memory(app, "user1"), lambda m: len(m) == 2)
    second = chat(app, "user1", "What did I say?")["response"]["content"]
    assert second.startswith("Memory: user: Hi, I am user1; assistant: Memory: Message count: 1")
    for i in range(3):
        chat(app, "user1", f"more {i}")
    chat(app, "user2", "Hello from user2")

    # 3. history: the view holds the last 5 entries, in order, user/assistant alternating
    view = history(app, "user1")
    assert view["total"] == 10
    assert [e["role"] for e in view["history"]] == [
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert view["history"][-2]["content"] == "more 2"
    # 4. count
    assert count(app, "user1") == 5
    assert count(app, "user2") == 1
    # 5. memory: the last 3 entries once every event is applied
    final = eventually(lambda: memory(app, "user1"), lambda m: m[-2:][0]["content"] == "more 2")
    assert len(final) == 3
    assert [m["role"] for m in final] == ["assistant", "user", "assistant"]
    assert final[1]["content"] == "more 2"
    assert len(memory(app, "user2")) == 2

    # 2 and 6. the story of a turn in the app's log
    log = (fresh.settings.stack.run_dir / "logs" / "app.log").read_text()
    for line in (
        "DEBUG agent_actors.actors.chat_agent turn user=user1 seq=1: delegating to ResponseAgent",
        "DEBUG agent_actors.actors.response_agent user=user1 seq=1: ResponseAgent processed",
        "INFO agent_actors.actors.chat_agent turn user=user1 seq=1: committed",
        "DEBUG agent_actors.actors.outbox user=user1 seq=1: published ConversationUpdated",
        "DEBUG agent_actors.api.middleware.event_deliveries received event user=user1 seq=1",
        "INFO agent_actors.actors.memory_agent user=user1 seq=1: memory applied",
    ):
        assert line in log, line

    # 7. the dashboard's numbers: daprd's metadata, 2 active instances of each type
    actors = {a["type"]: a["count"] for a in fresh.daprd.get("/v1.0/metadata").json()["actors"]}
    assert actors == {"ChatAgent": 2, "ResponseAgent": 2, "MemoryAgentActor": 2}


def test_actor_routes_answer_dapr_config(fresh: RunningStack) -> None:
    assert fresh.app.get("/healthz").status_code == 200
    entities = fresh.app.get("/dapr/config").json()["entities"]
    assert sorted(entities) == ["ChatAgent", "MemoryAgentActor", "ResponseAgent"]
