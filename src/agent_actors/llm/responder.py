"""The responder port: everything ResponseAgent knows about how a reply is produced."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from agent_actors.actors.state import ChatMessage


@dataclass(frozen=True)
class ReplyRequest:
    user_id: str
    seq: int
    message: ChatMessage
    memory: list[ChatMessage] = field(default_factory=list)
    recent: list[ChatMessage] = field(default_factory=list)
    count: int = 0


class Responder(Protocol):
    async def reply(self, request: ReplyRequest) -> str: ...
