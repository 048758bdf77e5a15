"""The responder port: everything ResponseAgent knows about how a reply is produced."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from agent_actors.actors.state import CallRecord, ChatMessage

# Searches this user's committed history: (query, limit) -> matching entries, newest first.
HistorySearch = Callable[[str, int], Awaitable[list[ChatMessage]]]


@dataclass(frozen=True)
class ReplyRequest:
    user_id: str
    seq: int
    message: ChatMessage
    memory: list[ChatMessage] = field(default_factory=list)
    recent: list[ChatMessage] = field(default_factory=list)
    count: int = 0
    # Where the reply's tokens go as they arrive (see ``streams.py``); None: nobody listens.
    stream_id: str | None = None
    # The responder appends one record per model request, also when ``reply`` raises, so the
    # actor can keep the records of a failed turn.
    calls: list[CallRecord] = field(default_factory=list)
    # The search_history tool's reach beyond ``recent``; None: search ``recent`` only.
    search_history: HistorySearch | None = None


class Responder(Protocol):
    async def reply(self, request: ReplyRequest) -> str: ...
