"""ResponseAgent (id ``response-<user>``): reads memory, asks the responder, counts replies."""

from __future__ import annotations

import logging
from typing import Any

from dapr.actor import Actor, ActorId
from dapr.actor.runtime.context import ActorRuntimeContext

from agent_actors.actors import naming
from agent_actors.actors.boundary import actor_method, unwrap
from agent_actors.actors.deps import ActorDeps
from agent_actors.actors.interfaces import MemoryAgentInterface, ResponseAgentInterface
from agent_actors.actors.state import ChatMessage, ResponseStats
from agent_actors.llm.responder import ReplyRequest

log = logging.getLogger(__name__)
STATS_KEY = "stats"


class ResponseAgent(Actor, ResponseAgentInterface):  # type: ignore[misc]
    def __init__(self, ctx: ActorRuntimeContext, actor_id: ActorId, deps: ActorDeps) -> None:
        super().__init__(ctx, actor_id)
        self._deps = deps
        self._user = naming.user_of(actor_id.id, "response")

    async def _stats(self) -> ResponseStats:
        found, raw = await self._state_manager.try_get_state(STATS_KEY)
        return ResponseStats.model_validate(raw) if found else ResponseStats()

    @actor_method
    async def process_message(self, request: dict[str, Any]) -> dict[str, Any]:
        seq = int(request["seq"])
        message = ChatMessage.model_validate(request["message"])
        recent = [ChatMessage.model_validate(m) for m in request.get("recent") or []]
        stats = await self._stats()
        # A seq already answered is ChatAgent retrying a turn it could not commit: answer
        # again, count once.
        if seq > stats.last_seq:
            stats = ResponseStats(count=stats.count + 1, last_seq=seq)
        proxy = self._deps.proxies.create(
            naming.MEMORY, naming.memory_id(self._user), MemoryAgentInterface
        )
        memory = [ChatMessage.model_validate(m) for m in unwrap(await proxy.GetMemory())]
        log.info("user=%s seq=%d: ResponseAgent read %d memory entries", self._user, seq, len(memory))
        content = await self._deps.responder.reply(
            ReplyRequest(self._user, seq, message, memory, recent, stats.count)
        )
        await self._state_manager.set_state(STATS_KEY, stats.model_dump())
        log.info("user=%s seq=%d: ResponseAgent processed message", self._user, seq)
        return {"role": "assistant", "content": content}

    @actor_method
    async def get_message_count(self) -> int:
        return (await self._stats()).count
