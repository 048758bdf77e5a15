"""ChatAgent's committed history as another actor sees it: daprd's actor state API, no lock.

ResponseAgent reads Memory's window the same way (``committed_window``): what Memory last
committed, without an actor call (one inbound request and one actor lock fewer per turn), and
Memory's updates never wait behind a turn's read.

MemoryAgentActor fills a gap in its events from here. It must not call ChatAgent (that would
make the call graph Chat -> Response -> Memory -> Chat a cycle of turn-locked actors), and it
needs no lock: a turn writes its entries and ``meta`` in one transaction, and entries below
``meta.entries`` are never written again, so pages read after ``meta`` hold at least the
turns ``meta`` counts, unchanged. Turns up to a published seq are always committed (ChatAgent
publishes after its commit).
"""

from __future__ import annotations

from typing import Any

from agent_actors.models import ActorTypes, ChatMessage
from agent_actors.sidecar.actor_runtime import StateLoader
from agent_actors.store.history import HistoryStore
from agent_actors.store.state import MEMORY_KEY, MemoryState


class CommittedState:
    """The read side of a state manager, over another actor's saved state."""

    def __init__(self, load: StateLoader, actor_type: str, actor_id: str) -> None:
        self._load = load
        self._type = actor_type
        self._id = actor_id

    async def try_get_state(self, key: str) -> tuple[bool, Any]:
        return await self._load(self._type, self._id, key)


def committed_history(load: StateLoader, user_id: str, page_size: int) -> HistoryStore:
    """ChatAgent(``user_id``)'s pages, read-only (only the read methods may be used)."""
    return HistoryStore(CommittedState(load, ActorTypes.CHAT, user_id), page_size, keep_pages=False)


async def committed_window(load: StateLoader, user_id: str) -> list[ChatMessage]:
    """MemoryAgentActor(``user_id``)'s window as last committed (what GetMemory returns)."""
    found, raw = await load(ActorTypes.MEMORY, user_id, MEMORY_KEY)
    return MemoryState.model_validate(raw).window if found else []
