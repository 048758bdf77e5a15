"""Memory's repair routes: rebuild from the history, and the dead letters (view, replay).

``GET /memory/{id}`` itself is in ``inspect.py``. Replay needs no stored message: the turns
of a dead-lettered seq are in ChatAgent's committed history, which MemoryAgentActor reads.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from agent_actors.actors import naming
from agent_actors.actors.boundary import unwrap
from agent_actors.actors.client import ProxyFactory
from agent_actors.actors.interfaces import MemoryAgentInterface
from agent_actors.actors.state import ChatMessage
from agent_actors.api.deps import AdminOnly, Proxies, UserId
from agent_actors.events.dead_letters import DeadLetter, UnparsedDeadLetters
from agent_actors.events.subscriber import DeadLetters

router = APIRouter(tags=["memory"])


class MemoryView(BaseModel):
    memory: list[ChatMessage] = Field(description="the window, oldest first")
    last_seq: int = Field(description="the last turn memory reflects")
    turns: int = Field(description="turns ChatAgent has committed")


class ReplayAnswer(MemoryView):
    replayed: list[int] = Field(description="seqs of the dead letters this replay applied")


class DeadLettersView(BaseModel):
    dead_letters: list[DeadLetter] = Field(description="the newest, oldest first (no content)")
    total: int = Field(description="dead letters ever recorded for this user")
    last_seq: int
    turns: int


def memory_of(proxies: ProxyFactory, user_id: str) -> Any:
    return proxies.create(naming.MEMORY, naming.memory_id(user_id), MemoryAgentInterface)


@router.post("/memory/{id}/rebuild")
async def rebuild(id: UserId, proxies: Proxies) -> MemoryView:
    """Rebuild MemoryAgentActor(memory-{id})'s window from the committed history."""
    return MemoryView.model_validate(unwrap(await memory_of(proxies, id).Rebuild()))


@router.get("/memory/{id}/dead-letters")
async def dead_letters(id: UserId, proxies: Proxies, store: DeadLetters) -> DeadLettersView:
    """This user's dead-lettered events (seqs, never content) and how far memory is."""
    log = await store.user(id)
    status = unwrap(await memory_of(proxies, id).GetStatus())
    return DeadLettersView(dead_letters=log.letters, total=log.total,
                           last_seq=status["last_seq"], turns=status["turns"])  # fmt: skip


@router.post("/memory/{id}/dead-letters/replay")
async def replay(id: UserId, proxies: Proxies, store: DeadLetters) -> ReplayAnswer:
    """Apply the turns of this user's dead letters (from the history); marks them replayed."""
    waiting = [letter.seq for letter in (await store.user(id)).letters if not letter.replayed_at]
    memory = memory_of(proxies, id)
    if not waiting:
        return ReplayAnswer(**unwrap(await memory.GetStatus()), replayed=[])
    result = unwrap(await memory.CatchUp({"up_to": max(waiting)}))
    replayed = await store.mark_replayed(id, result["last_seq"], datetime.now(UTC))
    return ReplayAnswer(**result, replayed=replayed)


@router.get("/events/dead-letters", dependencies=[AdminOnly])
async def unparsed_dead_letters(store: DeadLetters) -> UnparsedDeadLetters:
    """Dead letters that were not a readable ConversationUpdated: why, never content (admin)."""
    return await store.unparsed()
