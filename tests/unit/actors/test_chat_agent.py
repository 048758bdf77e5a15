from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from dapr.actor.runtime._type_information import ActorTypeInformation

from agent_actors.actors.chat_agent import ChatAgent
from agent_actors.actors.interfaces import ChatAgentInterface, MemoryAgentInterface
from agent_actors.actors.memory_agent import MemoryAgentActor
from agent_actors.actors.outbox import OUTBOX_REMINDER, OUTBOX_TIMER
from agent_actors.errors import IdempotencyConflict, InvalidInput
from agent_actors.models import ActorTypes
from agent_actors.settings import LimitSettings, Settings
from agent_actors.sidecar.boundary import unwrap
from tests.unit.twins import make_deps


def settings(**limits: object) -> Settings:
    return Settings(limits=LimitSettings(**limits))  # type: ignore[arg-type]


def delivering_to_memory(actors: Any, publisher: Any, user: str) -> Any:
    """The user's Memory actor, with every published event delivered to it (as pub/sub does)."""
    memory = actors.create(ActorTypes.MEMORY, user, MemoryAgentInterface)

    async def deliver(event: object) -> None:
        unwrap(await memory.UpdateMemory(event.model_dump(mode="json")))  # type: ignore[attr-defined]

    publisher._deliver = deliver
    return memory


async def turn(actors: object, user: str, content: str) -> dict[str, object]:
    proxy = actors.create(ActorTypes.CHAT, user, ChatAgentInterface)  # type: ignore[attr-defined]
    result: dict[str, object] = unwrap(
        await proxy.ProcessMessage({"role": "user", "content": content})
    )
    return result


async def test_a_turn_commits_history_counts_and_publishes() -> None:
    _, actors, publisher = make_deps(settings(history_page_size=4))
    for i in range(3):
        reply = await turn(actors, "u1", f"m{i}")
        assert reply["seq"] == i + 1
    chat = actors.actor(ActorTypes.CHAT, "u1")
    state = chat._state_manager._mock_state
    assert state["meta"]["turns"] == 3
    # The last turn's published_seq rides on the next write of meta (no second transaction):
    # the actor knows it is published, the store has it after the next turn or outbox tick.
    assert state["meta"]["published_seq"] == 2
    summary = unwrap(await actors.create(ActorTypes.CHAT, "u1", ChatAgentInterface).GetSummary())
    assert summary["pending_events"] == 0
    # 6 entries in pages of 4: the layout is paged, not one growing list
    assert len(state["history-0"]["entries"]) == 4
    assert len(state["history-1"]["entries"]) == 2
    assert [e.seq for e in publisher.published] == [1, 2, 3]
    # an active user's turns keep one slow watchdog reminder, registered once
    assert chat._state_manager._mock_reminders[OUTBOX_REMINDER].period == timedelta(seconds=60)
    assert [e.input.content for e in publisher.published] == ["m0", "m1", "m2"]
    # The watchdog's tick saves it and, nothing being pending, drops itself; no republish.
    await chat.receive_reminder(OUTBOX_REMINDER, b"{}", None, None)
    assert state["meta"]["published_seq"] == 3
    assert OUTBOX_REMINDER not in chat._state_manager._mock_reminders
    assert [e.seq for e in publisher.published] == [1, 2, 3]
    page = unwrap(
        await actors.create(ActorTypes.CHAT, "u1", ChatAgentInterface).GetConversationHistory(
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
    chat = actors.actor(ActorTypes.CHAT, "u1")
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
    proxy = actors.create(ActorTypes.CHAT, "u1", ChatAgentInterface)
    envelope = await proxy.ProcessMessage({"role": "assistant", "content": "x"})
    with pytest.raises(InvalidInput):
        unwrap(envelope)
    assert actors.actor(ActorTypes.CHAT, "u1")._state_manager._mock_state == {}


async def test_memory_follows_published_events() -> None:
    _, actors, publisher = make_deps(settings(memory_window=3))
    memory = delivering_to_memory(actors, publisher, "u1")
    await turn(actors, "u1", "first")
    second = await turn(actors, "u1", "second")
    assert "user: first" in str(second["content"])
    window = unwrap(await memory.GetMemory())
    assert [m["role"] for m in window] == ["assistant", "user", "assistant"]
    assert window[1]["content"] == "second"


async def test_response_agent_reads_the_committed_window_without_calling_memory() -> None:
    _, actors, publisher = make_deps(settings(memory_window=3))
    delivering_to_memory(actors, publisher, "u1")
    await turn(actors, "u1", "first")
    called: list[str] = []

    async def get_memory() -> object:
        called.append("GetMemory")
        return []

    # One inbound request and one actor lock fewer per turn: the state API, no actor call.
    actors.actor(ActorTypes.MEMORY, "u1").get_memory = get_memory
    second = await turn(actors, "u1", "second")
    assert "user: first" in str(second["content"])
    assert called == []


class HangingPublisher:
    """A broker that accepts the connection and never answers."""

    async def publish(self, event: object) -> None:
        await asyncio.Event().wait()


async def test_a_hanging_publish_after_the_commit_still_answers_the_turn() -> None:
    deps, actors, _ = make_deps(settings(post_commit_timeout_s=0.05))
    deps.publisher = HangingPublisher()
    reply = await asyncio.wait_for(turn(actors, "u1", "a"), timeout=5)
    assert reply["seq"] == 1
    meta = actors.actor(ActorTypes.CHAT, "u1")._state_manager._mock_state["meta"]
    assert (meta["turns"], meta["published_seq"]) == (1, 0)
    # The watchdog armed before the commit covers the pending event.
    assert OUTBOX_REMINDER in actors.actor(ActorTypes.CHAT, "u1")._state_manager._mock_reminders


async def test_a_turn_whose_event_is_published_is_one_transaction() -> None:
    _, actors, _ = make_deps()
    await turn(actors, "u1", "a")
    chat = actors.actor(ActorTypes.CHAT, "u1")
    real_set = chat._state_manager.set_state
    staged: list[str] = []

    async def recording_set(key: str, value: object) -> None:
        staged.append(key)
        await real_set(key, value)

    # (The SDK's mock writes at set_state; the runtime sends what was set at its next save.)
    chat._state_manager.set_state = recording_set
    await turn(actors, "u1", "b")
    assert sorted(staged) == ["history-0", "meta"]


async def test_a_published_seq_lost_with_the_object_means_one_republish_never_a_loss() -> None:
    _, actors, publisher = make_deps(settings(memory_window=10))
    memory = delivering_to_memory(actors, publisher, "u1")
    await turn(actors, "u1", "a")
    await turn(actors, "u1", "b")
    chat = actors.actor(ActorTypes.CHAT, "u1")
    # Deactivated (or crashed) before its next write of meta: a new object, the saved state.
    chat._bind(actors.deps)
    summary = unwrap(await actors.create(ActorTypes.CHAT, "u1", ChatAgentInterface).GetSummary())
    assert summary["pending_events"] == 1
    assert OUTBOX_REMINDER in chat._state_manager._mock_reminders
    await chat.receive_reminder(OUTBOX_REMINDER, b"{}", None, None)
    assert [e.seq for e in publisher.published] == [1, 2, 2]
    assert chat._state_manager._mock_state["meta"]["published_seq"] == 2
    status = unwrap(await memory.GetStatus())  # type: ignore[attr-defined]
    assert (status["last_seq"], len(status["memory"])) == (2, 4)  # the republish: a duplicate


async def test_a_new_conversation_after_a_delete_publishes_from_seq_one() -> None:
    _, actors, publisher = make_deps()
    await turn(actors, "u1", "a")
    await turn(actors, "u1", "b")
    proxy = actors.create(ActorTypes.CHAT, "u1", ChatAgentInterface)
    unwrap(await proxy.Delete())
    await turn(actors, "u1", "c")
    assert [e.seq for e in publisher.published] == [1, 2, 1]
    assert unwrap(await proxy.GetSummary())["pending_events"] == 0
    assert actors.actor(ActorTypes.CHAT, "u1")._state_manager._mock_state["meta"]["turns"] == 1


async def test_a_failed_save_after_the_commit_is_not_a_failed_turn() -> None:
    _, actors, publisher = make_deps()
    # A failed publish changes meta after the commit (the fast reminder): a second save.
    publisher.failing = True
    chat = actors.actor(ActorTypes.CHAT, "u1")
    real_save = chat._state_manager.save_state
    saves = 0

    async def second_save_fails() -> None:
        nonlocal saves
        saves += 1
        if saves == 2:
            raise RuntimeError("daprd went away after the commit")
        await real_save()

    chat._state_manager.save_state = second_save_fails
    reply = await turn(actors, "u1", "a")
    assert reply["seq"] == 1
    assert saves >= 2  # the commit, the failed one (and the runtime's own, a no-op)
    page = unwrap(
        await actors.create(ActorTypes.CHAT, "u1", ChatAgentInterface).GetConversationHistory({})
    )
    assert page["total"] == 2


async def test_the_reminder_stays_until_meta_says_nothing_is_pending() -> None:
    _, actors, publisher = make_deps()
    publisher.failing = True
    await turn(actors, "u1", "a")
    chat = actors.actor(ActorTypes.CHAT, "u1")
    publisher.failing = False

    async def save_fails() -> None:
        raise RuntimeError("the state store is down")

    real_save = chat._state_manager.save_state
    chat._state_manager.save_state = save_fails
    with pytest.raises(RuntimeError):
        await chat.receive_reminder(OUTBOX_REMINDER, b"{}", None, None)
    assert OUTBOX_REMINDER in chat._state_manager._mock_reminders
    chat._state_manager.save_state = real_save
    await chat.receive_reminder(OUTBOX_REMINDER, b"{}", None, None)
    assert OUTBOX_REMINDER not in chat._state_manager._mock_reminders
    assert chat._state_manager._mock_state["meta"]["outbox_period_s"] == 0


async def test_a_failed_reminder_registration_is_counted_and_retried_next_turn() -> None:
    deps, actors, _ = make_deps()
    chat = actors.actor(ActorTypes.CHAT, "u1")
    real_register = chat.register_reminder
    attempts = 0

    async def scheduler_down(*args: object) -> None:
        nonlocal attempts
        attempts += 1
        raise RuntimeError("scheduler unavailable")

    chat.register_reminder = scheduler_down
    await turn(actors, "u1", "a")
    meta = chat._state_manager._mock_state["meta"]
    assert (meta["outbox_period_s"], meta["outbox_arm_failures"]) == (0, 1)
    # Right after a failure the scheduler is not waited on again (each try costs a timeout).
    await turn(actors, "u1", "b")
    assert attempts == 1
    assert chat._state_manager._mock_state["meta"]["outbox_arm_failures"] == 2
    chat.register_reminder = real_register
    deps.reminders.reset()  # the cool-down is over
    await turn(actors, "u1", "c")
    assert chat._state_manager._mock_state["meta"]["outbox_period_s"] == 60
    assert OUTBOX_REMINDER in chat._state_manager._mock_reminders


async def test_an_idempotency_key_replays_the_committed_turn_and_saves_nothing() -> None:
    _, actors, publisher = make_deps(settings(idempotency_keys=2))
    proxy = actors.create(ActorTypes.CHAT, "u1", ChatAgentInterface)
    first = unwrap(
        await proxy.ProcessMessage({"role": "user", "content": "a", "idempotency_key": "k"})
    )
    again = unwrap(
        await proxy.ProcessMessage({"role": "user", "content": "a", "idempotency_key": "k"})
    )
    assert again == {**first, "replayed": True}
    assert len(publisher.published) == 1
    with pytest.raises(IdempotencyConflict):
        unwrap(await proxy.ProcessMessage({"role": "user", "content": "b", "idempotency_key": "k"}))
    # Only the newest keys are kept: "k" is forgotten after two more keys.
    for key in ("k2", "k3"):
        await proxy.ProcessMessage({"role": "user", "content": key, "idempotency_key": key})
    forgotten = unwrap(
        await proxy.ProcessMessage({"role": "user", "content": "a", "idempotency_key": "k"})
    )
    assert forgotten["seq"] == 4
    state = actors.actor(ActorTypes.CHAT, "u1")._state_manager._mock_state
    assert [r["key"] for r in state["idempotency"]["records"]] == ["k3", "k"]


async def test_a_lone_surrogate_never_reaches_the_state() -> None:
    _, actors, _ = make_deps()
    proxy = actors.create(ActorTypes.CHAT, "u1", ChatAgentInterface)
    with pytest.raises(InvalidInput):
        unwrap(await proxy.ProcessMessage({"role": "user", "content": "x\ud800"}))
    assert actors.actor(ActorTypes.CHAT, "u1")._state_manager._mock_state == {}


async def test_a_timer_covers_the_outbox_while_the_scheduler_refuses_reminders() -> None:
    _, actors, publisher = make_deps()
    chat = actors.actor(ActorTypes.CHAT, "u1")

    async def scheduler_down(*args: object) -> None:
        raise RuntimeError("scheduler unavailable")

    chat.register_reminder = scheduler_down
    publisher.failing = True
    await turn(actors, "u1", "a")
    assert OUTBOX_TIMER in chat._state_manager._mock_timers
    assert OUTBOX_REMINDER not in chat._state_manager._mock_reminders
    publisher.failing = False
    # No new turn: the timer publishes the pending event, then steps down.
    await chat._on_outbox_timer(b"")
    assert [e.seq for e in publisher.published] == [1]
    assert OUTBOX_TIMER not in chat._state_manager._mock_timers


@pytest.mark.parametrize("actor_type", [ChatAgent, MemoryAgentActor])
def test_the_sdk_fires_reminders_of_the_actors_that_use_them(actor_type: type) -> None:
    # The SDK looks for Remindable among the class's direct bases only.
    assert ActorTypeInformation.create(actor_type).is_remindable()


async def test_the_same_request_delivered_twice_is_one_turn() -> None:
    # daprd may deliver an actor call again (its retries while an actor moves): the API gives
    # each request an id, and a second delivery returns the committed turn.
    _, actors, publisher = make_deps()
    proxy = actors.create(ActorTypes.CHAT, "u1", ChatAgentInterface)
    call = {"role": "user", "content": "once", "request_id": "r-1"}
    first = unwrap(await proxy.ProcessMessage(call))
    again = unwrap(await proxy.ProcessMessage(call))
    assert again == {**first, "replayed": True}
    other = unwrap(await proxy.ProcessMessage({**call, "request_id": "r-2"}))
    assert other["seq"] == 2  # the same text in a new request is a new turn
    assert len(publisher.published) == 2
