"""A thread's agent (agent_for), the session's registry of threads, and which thread a named
agent is (a conversation from before threads keeps its agent)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from agent_actors.actors.reply_job import agent_for
from agent_actors.errors import AgentConflict, UnknownAgent
from agent_actors.llm.profiles import packaged_book
from agent_actors.store.dead_letters import InMemoryStateStore
from agent_actors.store.session_threads import SessionThreads, registry_key
from agent_actors.store.state import ChatMeta


def test_agent_for_fixes_a_threads_agent_and_keeps_an_old_conversations() -> None:
    book = packaged_book()
    fresh, old = ChatMeta(), ChatMeta(turns=2, agent="support")
    assert agent_for(book, fresh, None, None) == "assistant"
    assert agent_for(book, fresh, None, "support") == "support"
    assert agent_for(book, fresh, "support", "support") == "support"
    # A conversation from before threads, bound to support in the session's own thread.
    assert agent_for(book, old, None, None) == "support"
    assert agent_for(book, old, "support", None) == "support"
    for meta, asked, fixed in ((old, "assistant", None), (fresh, "support", None)):
        with pytest.raises(AgentConflict):
            agent_for(book, meta, asked, fixed)
    with pytest.raises(AgentConflict):
        agent_for(book, fresh, "assistant", "support")
    with pytest.raises(UnknownAgent):
        agent_for(book, fresh, "ghost", None)


async def test_the_registry_adds_once_and_goes_with_its_last_agent() -> None:
    store = InMemoryStateStore()
    threads = SessionThreads(store, None)
    for agent in ("billing", "shipping", "billing"):
        await threads.add("s7", agent)
    assert await threads.agents("s7") == ["billing", "shipping"]
    assert store.items[registry_key("s7")][1] == 2  # the repeat wrote nothing
    await threads.remove("s7", "billing")
    await threads.remove("s7", "billing")
    assert await threads.agents("s7") == ["shipping"]
    await threads.remove("s7", "shipping")
    assert registry_key("s7") not in store.items


async def test_a_named_agent_reads_the_sessions_own_thread_once() -> None:
    reads: list[str] = []
    agents = {"old": "support", "plain": "", "used": "assistant"}

    async def load(actor_type: str, actor_id: str, key: str) -> tuple[bool, Any]:
        reads.append(actor_id)
        meta = ChatMeta(turns=1, agent=agents[actor_id], created_at=time.time())
        return True, meta.model_dump()

    threads = SessionThreads(InMemoryStateStore(), load)
    assert await threads.thread_of("old", "support", "assistant") == "old"
    assert await threads.thread_of("old", "billing", "assistant") == "old~billing"
    assert await threads.thread_of("plain", "support", "assistant") == "plain~support"
    assert await threads.thread_of("used", "support", "assistant") == "used~support"
    assert await threads.thread_of("used", "billing", "assistant") == "used~billing"
    assert await threads.thread_of("used", None, "assistant") == "used"
    # A session bound to the default stays so: read once. One from before threads, each time.
    assert reads == ["old", "old", "plain", "used"]
