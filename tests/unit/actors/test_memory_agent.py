"""MemoryAgentActor on mock actors: ChatAgent commits real turns, events reach Memory (or not)
in whatever order a test picks, and gaps are filled from ChatAgent's committed pages."""

from __future__ import annotations

from typing import Any

import pytest

from agent_actors.actors.interfaces import ChatAgentInterface, MemoryAgentInterface
from agent_actors.errors import HistoryBehind
from agent_actors.events.conversation_updated import ConversationUpdated
from agent_actors.models import ActorTypes
from agent_actors.settings import LimitSettings, Settings
from agent_actors.sidecar.boundary import unwrap
from tests.unit.twins import LocalActors, make_deps

USER = "u1"


async def setup(turns: int, **limits: Any) -> tuple[LocalActors, list[ConversationUpdated]]:
    """``turns`` committed turns whose events were published but delivered to no one."""
    _, actors, publisher = make_deps(Settings(limits=LimitSettings(**limits)))
    chat = actors.create(ActorTypes.CHAT, USER, ChatAgentInterface)
    for i in range(1, turns + 1):
        unwrap(await chat.ProcessMessage({"role": "user", "content": f"q{i}"}))
    return actors, publisher.published


def memory(actors: LocalActors) -> Any:
    return actors.create(ActorTypes.MEMORY, USER, MemoryAgentInterface)


async def deliver(actors: LocalActors, event: ConversationUpdated) -> dict[str, Any]:
    result: dict[str, Any] = unwrap(
        await memory(actors).UpdateMemory(event.model_dump(mode="json"))
    )
    return result


async def window(actors: LocalActors) -> list[str]:
    return [m["content"] for m in unwrap(await memory(actors).GetMemory())]


async def history_tail(actors: LocalActors, count: int) -> list[str]:
    chat = actors.create(ActorTypes.CHAT, USER, ChatAgentInterface)
    page = unwrap(await chat.GetConversationHistory({"limit": count}))
    return [m["content"] for m in page["history"]]


def stored(actors: LocalActors) -> dict[str, Any]:
    state: dict[str, Any] = actors.actor(ActorTypes.MEMORY, USER)._state_manager._mock_state
    return state


async def test_in_order_events_fill_a_bounded_window() -> None:
    actors, events = await setup(3, memory_window=3)
    for event in events:
        assert await deliver(actors, event) == {
            "status": "applied",
            "applied": 1,
            "last_seq": event.seq,
        }
    assert await window(actors) == await history_tail(actors, 3)
    assert stored(actors)["memory"]["last_seq"] == 3


async def test_duplicates_change_nothing() -> None:
    actors, events = await setup(2)
    await deliver(actors, events[0])
    await deliver(actors, events[1])
    before = stored(actors)["memory"]
    for event in (events[0], events[1], events[0]):
        assert (await deliver(actors, event))["status"] == "duplicate"
    assert stored(actors)["memory"] == before


async def test_a_lost_seq_is_read_from_the_history_at_once_and_arrives_later_as_a_duplicate() -> (
    None
):
    actors, events = await setup(5, memory_window=3)
    await deliver(actors, events[0])
    # 2, 3 and 4 were lost (dead-lettered): 5 alone brings memory to the end, no waiting.
    assert await deliver(actors, events[4]) == {"status": "repaired", "applied": 4, "last_seq": 5}
    assert await window(actors) == await history_tail(actors, 3)
    for late in events[1:4]:
        assert (await deliver(actors, late))["status"] == "duplicate"
    assert await window(actors) == await history_tail(actors, 3)


async def test_a_gap_smaller_than_the_window_keeps_the_older_entries_in_order() -> None:
    actors, events = await setup(3, memory_window=10)
    await deliver(actors, events[0])
    assert (await deliver(actors, events[2]))["status"] == "repaired"
    assert await window(actors) == await history_tail(actors, 6)


async def test_out_of_order_events_apply_each_turn_once_in_order() -> None:
    actors, events = await setup(4, memory_window=8)
    for i in (2, 0, 3, 1, 2):
        await deliver(actors, events[i])
    assert await window(actors) == await history_tail(actors, 8)
    assert stored(actors)["memory"]["last_seq"] == 4


async def test_a_gap_costs_reads_of_the_window_not_of_the_gap() -> None:
    actors, events = await setup(60, memory_window=3, history_page_size=4)
    reads: list[str] = []

    async def counting(actor_type: str, actor_id: str, key: str) -> tuple[bool, Any]:
        reads.append(key)
        return await actors.try_load_state(actor_type, actor_id, key)

    memory_actor = actors.actor(ActorTypes.MEMORY, USER)
    memory_actor._runtime_ctx.state_provider.try_load_state = counting
    memory_actor._bind(memory_actor._deps)
    assert (await deliver(actors, events[59]))["last_seq"] == 60
    assert reads == ["meta", "history-29"]  # 3 entries of turns 59-60: one page of 4
    assert await window(actors) == await history_tail(actors, 3)


async def test_an_event_ahead_of_the_history_is_refused_and_nothing_is_saved() -> None:
    actors, events = await setup(1)
    ahead = events[0].model_copy(update={"seq": 3})
    result = await memory(actors).UpdateMemory(ahead.model_dump(mode="json"))
    with pytest.raises(HistoryBehind):
        unwrap(result)
    assert "memory" not in stored(actors)
    assert (await deliver(actors, events[0]))["status"] == "applied"


async def test_catch_up_applies_committed_turns_up_to_a_seq() -> None:
    actors, events = await setup(4, memory_window=4)
    await deliver(actors, events[0])
    result = unwrap(await memory(actors).CatchUp({"up_to": 3}))
    assert (result["last_seq"], result["turns"], result["applied"]) == (3, 4, 2)
    assert [m["content"] for m in result["memory"]] == (await history_tail(actors, 6))[:4]
    # Beyond the history: only what is committed.
    assert unwrap(await memory(actors).CatchUp({"up_to": 99}))["last_seq"] == 4
    assert unwrap(await memory(actors).CatchUp({}))["applied"] == 0


async def test_rebuild_takes_the_window_from_the_history() -> None:
    actors, events = await setup(3, memory_window=3)
    await deliver(actors, events[0])
    result = unwrap(await memory(actors).Rebuild())
    assert (result["last_seq"], result["turns"]) == (3, 3)
    assert await window(actors) == await history_tail(actors, 3)
    assert (await deliver(actors, events[2]))["status"] == "duplicate"


async def test_rebuild_of_a_user_without_history_is_empty() -> None:
    actors, _ = await setup(0)
    result = unwrap(await memory(actors).Rebuild())
    assert (result["memory"], result["last_seq"], result["turns"]) == ([], 0, 0)
