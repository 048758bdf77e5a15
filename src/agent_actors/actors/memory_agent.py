"""MemoryAgentActor (id ``memory-<user>``): a bounded window of the conversation, fed by events.

Each ConversationUpdated is applied exactly once and in seq order, whatever pub/sub does:
a seq at or below ``last_seq`` is a duplicate; one ahead of a gap waits in a bounded reorder
buffer until the gap fills (or, if the buffer overflows, the lost seqs are skipped, loudly).
"""

from __future__ import annotations

import logging
from typing import Any

from dapr.actor import Actor, ActorId
from dapr.actor.runtime.context import ActorRuntimeContext

from agent_actors.actors.boundary import actor_method
from agent_actors.actors.deps import ActorDeps
from agent_actors.actors.interfaces import MemoryAgentInterface
from agent_actors.actors.state import MemoryState, TurnPair
from agent_actors.events.schemas import ConversationUpdated

log = logging.getLogger(__name__)
MEMORY_KEY = "memory"


class MemoryAgentActor(Actor, MemoryAgentInterface):
    def __init__(self, ctx: ActorRuntimeContext, actor_id: ActorId, deps: ActorDeps) -> None:
        super().__init__(ctx, actor_id)
        self._bind(deps)

    def _bind(self, deps: ActorDeps) -> None:
        """Everything the actor derives from its deps (unit tests bind mock actors here)."""
        self._deps = deps

    async def _load(self) -> MemoryState:
        found, raw = await self._state_manager.try_get_state(MEMORY_KEY)
        return MemoryState.model_validate(raw) if found else MemoryState()

    @actor_method
    async def get_memory(self) -> list[dict[str, Any]]:
        return [m.model_dump() for m in (await self._load()).window]

    @actor_method
    async def update_memory(self, event: dict[str, Any]) -> dict[str, Any]:
        update = ConversationUpdated.model_validate(event)
        state = await self._load()
        outcome = apply_event(state, update, self._deps.settings.limits)
        if outcome["applied"] or outcome["status"] == "buffered":
            await self._state_manager.set_state(MEMORY_KEY, state.model_dump())
        log.info(
            "user=%s seq=%d: memory %s (applied %s, last_seq %d)",
            update.user_id, update.seq, outcome["status"], outcome["applied"], state.last_seq,
        )  # fmt: skip
        return outcome


def apply_event(state: MemoryState, event: ConversationUpdated, limits: Any) -> dict[str, Any]:
    """Apply ``event`` to ``state`` in place; returns what happened (pure: unit-testable)."""
    if event.seq <= state.last_seq or str(event.seq) in state.pending:
        return {"status": "duplicate", "applied": []}
    state.pending[str(event.seq)] = TurnPair(input=event.input, output=event.output)
    if event.seq != state.last_seq + 1 and len(state.pending) <= limits.reorder_buffer:
        return {"status": "buffered", "applied": []}
    if event.seq != state.last_seq + 1:
        lowest = min(int(s) for s in state.pending)
        log.warning(
            "user=%s: seqs %d..%d never arrived; skipping them", event.user_id,
            state.last_seq + 1, lowest - 1,
        )  # fmt: skip
        state.last_seq = lowest - 1
    applied = []
    while (pair := state.pending.pop(str(state.last_seq + 1), None)) is not None:
        state.last_seq += 1
        state.window.extend([pair.input, pair.output])
        applied.append(state.last_seq)
    del state.window[: max(0, len(state.window) - limits.memory_window)]
    return {"status": "applied", "applied": applied}
