"""The default responder: deterministic, no network, answers as the tutorial's mock did."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from agent_actors.llm.responder import ReplyRequest


class OfflineResponder:
    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = clock

    async def reply(self, request: ReplyRequest) -> str:
        context = (
            "; ".join(f"{m.role}: {m.content}" for m in request.memory)
            if request.memory
            else f"Message count: {request.count}"
        )
        stamp = self._clock().isoformat()
        return f"Memory: {context}. Got your message: {request.message.content} at {stamp}"
