"""Typed actor state and its key layout.

Dapr stores each key as ``agent-actors||<ActorType>||<actor id>||<key>`` in Redis.

ChatAgent (id ``user1``)
    ``meta``            ChatMeta: committed turns (= last seq), published seq, page size
    ``history-<n>``     HistoryPage n: entries ``n*page_size .. (n+1)*page_size - 1``
ResponseAgent (id ``response-user1``)
    ``stats``           ResponseStats: replies given, last seq answered
MemoryAgentActor (id ``memory-user1``)
    ``memory``          MemoryState: the bounded window, last applied seq, reorder buffer

A turn writes ``meta`` and one (at a page boundary two) bounded pages in one transaction, so
its cost does not grow with the conversation. Values are read into fresh pydantic objects, so
a method never mutates the SDK's state cache in place (it keeps that cache after a failure).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Role = Literal["user", "assistant", "system"]


class ChatMessage(BaseModel):
    role: Role
    content: str


class ChatMeta(BaseModel):
    turns: int = 0
    published_seq: int = 0
    page_size: int = 50
    outbox_armed: bool = False

    @property
    def entries(self) -> int:
        return self.turns * 2

    @property
    def pending(self) -> range:
        """Seqs of committed turns whose ConversationUpdated is not yet published."""
        return range(self.published_seq + 1, self.turns + 1)


class HistoryPage(BaseModel):
    entries: list[ChatMessage] = Field(default_factory=list)


class ResponseStats(BaseModel):
    count: int = 0
    last_seq: int = 0


class MemoryState(BaseModel):
    window: list[ChatMessage] = Field(default_factory=list)
    last_seq: int = 0
    # Events that arrived ahead of a missing seq, by seq (as str: JSON object keys).
    pending: dict[str, TurnPair] = Field(default_factory=dict)


class TurnPair(BaseModel):
    input: ChatMessage
    output: ChatMessage


def page_key(page: int) -> str:
    return f"history-{page}"


MemoryState.model_rebuild()
