from __future__ import annotations

from datetime import timedelta

import pytest

from agent_actors.actors import naming
from agent_actors.actors.boundary import unwrap
from agent_actors.actors.chat_agent import OUTBOX_REMINDER
from agent_actors.actors.interfaces import ChatAgentInterface, MemoryAgentInterface
from agent_actors.errors import InvalidInput
from agent_actors.settings import LimitSettings, Settings
from tests.unit.twins import make_deps


def settings(**limits: object) -> Settings:
    return Settings(limits=LimitSettings(**limits))  # type: ignore[arg-type]


async def turn(actors: object, user: str, content: str) -> dict[str, object]:
    proxy = actors.create(naming.CHAT, user, ChatAgentInterface)  # type: ignore[attr-defined]
    result: dict[str, object] = unwrap(
        await proxy.ProcessMessage({"role": "user", "content": content})
    )
    return result


async def test_a_turn_commits_history_counts_and_publishes() -> None:
    _, actors, publisher = make_deps(settings(history_page_size=4))
    for i in range(3):
        reply = await turn(actors, "u1", f"m{i}")
        assert reply["seq"] == i + 1
    chat = actors.actor(naming.CHAT, "u1")
    state = chat._state_manager._mock_state
    assert state["meta"]["turns"] == 3
    assert state["meta"]["published_seq"] == 3
    # 6 entries in pages of 4: the layout is paged, not one growing list
    assert len(state["history-0"]["entries"]) == 4
    assert len(state["history-1"]["entries"]) == 2
    assert [e.seq for e in publisher.published] == [1, 2, 3]
    # an active user's turns keep one slow watchdog reminder, registered once
    assert chat._state_manager._mock_reminders[OUTBOX_REMINDER].period == timedelta(seconds=60)
    assert [e.input.content for e in publisher.published] == ["m0", "m1", "m2"]
    page = unwrap(
        await actors.create(naming.CHAT, "u1", ChatAgentInterface).GetConversationHistory(
            {"limit": 5}
        )
    )
    assert page["total"] == 6
    assert [e["content"] for e in page["history"]][1] == "m1"


async def test_a_failed_publish_stays_pending_and_the_reminder_republishes_in_order() -> None:
    _, actors, publisher = make_deps()
    publisher.failing = True
    await turn(actors, "u1", "a")
    await turn(actors, "u1", "b")
    chat = actors.actor(naming.CHAT, "u1")
    assert chat._state_manager._mock_state["meta"]["published_seq"] == 0
    # a failed publish switches the reminder to the fast republish period
    reminder = chat._state_manager._mock_reminders[OUTBOX_REMINDER]
    assert reminder.period == timedelta(seconds=5)
    assert chat._state_manager._mock_state["meta"]["outbox_period_s"] == 5
    publisher.failing = False
    await chat.receive_reminder(OUTBOX_REMINDER, b"{}", None, None)
    await chat._state_manager.save_state()
    assert [e.seq for e in publisher.published] == [1, 2]
    assert chat._state_manager._mock_state["meta"]["published_seq"] == 2
    assert chat._state_manager._mock_state["meta"]["outbox_period_s"] == 0


async def test_a_message_with_another_role_is_refused_without_state() -> None:
    _, actors, _ = make_deps()
    proxy = actors.create(naming.CHAT, "u1", ChatAgentInterface)
    envelope = await proxy.ProcessMessage({"role": "assistant", "content": "x"})
    with pytest.raises(InvalidInput):
        unwrap(envelope)
    assert actors.actor(naming.CHAT, "u1")._state_manager._mock_state == {}


async def test_memory_follows_published_events() -> None:
    _, actors, publisher = make_deps(settings(memory_window=3))
    memory = actors.create(naming.MEMORY, naming.memory_id("u1"), MemoryAgentInterface)

    async def deliver(event: object) -> None:
        unwrap(await memory.UpdateMemory(event.model_dump(mode="json")))  # type: ignore[attr-defined]

    publisher._deliver = deliver
    await turn(actors, "u1", "first")
    second = await turn(actors, "u1", "second")
    assert "user: first" in str(second["content"])
    window = unwrap(await memory.GetMemory())
    assert [m["role"] for m in window] == ["assistant", "user", "assistant"]
    assert window[1]["content"] == "second"
