"""/memory/{id}: MemoryAgentActor's window, its rebuild, and its dead letters (view, replay);
``?agent=``: of that agent's thread of the session (deps.ThreadId).

Replay needs no stored message: the turns of a dead-lettered seq are in ChatAgent's committed
history, which MemoryAgentActor reads.
"""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter

from agent_actors.actors.interfaces import MemoryView
from agent_actors.api.deps import DeadLetters, MemoryActor, ThreadId
from agent_actors.api.http_errors import USER_ROUTE, responses
from agent_actors.api.schemas import DeadLettersView, MemoryOut, ReplayAnswer

# Tags per route: the window is listed with the read-only views ("inspect" in /docs), the
# repairs under "memory".
router = APIRouter()
USER_ERRORS = responses(*USER_ROUTE)


@router.get("/memory/{id}", tags=["inspect"], responses=USER_ERRORS)
async def memory(memory_agent: MemoryActor) -> MemoryOut:
    """MemoryAgentActor({id})'s window, oldest first."""
    return MemoryOut(memory=await memory_agent.window())


@router.post("/memory/{id}/rebuild", tags=["memory"], responses=USER_ERRORS)
async def rebuild(memory_agent: MemoryActor) -> MemoryView:
    """Rebuild MemoryAgentActor({id})'s window from the committed history."""
    return await memory_agent.rebuild()


@router.get("/memory/{id}/dead-letters", tags=["memory"], responses=USER_ERRORS)
async def dead_letters(
    thread: ThreadId, memory_agent: MemoryActor, store: DeadLetters
) -> DeadLettersView:
    """This user's dead-lettered events (seqs, never content) and how far memory is."""
    log = await store.user(thread)
    status = await memory_agent.status()
    return DeadLettersView(
        dead_letters=log.letters, total=log.total, last_seq=status.last_seq, turns=status.turns
    )


@router.post("/memory/{id}/dead-letters/replay", tags=["memory"], responses=USER_ERRORS)
async def replay(thread: ThreadId, memory_agent: MemoryActor, store: DeadLetters) -> ReplayAnswer:
    """Apply the turns of this user's dead letters (from the history); marks them replayed."""
    waiting = [
        letter.seq for letter in (await store.user(thread)).letters if not letter.replayed_at
    ]
    if not waiting:
        status = await memory_agent.status()
        return ReplayAnswer(**status.model_dump(), replayed=[])
    result = await memory_agent.catch_up(max(waiting))
    replayed = await store.mark_replayed(thread, result.last_seq, datetime.now(UTC))
    return ReplayAnswer(**result.model_dump(), replayed=replayed)
