"""Typed actor state and its key layout.

Dapr stores each key as ``agent-actors||<ActorType>||<actor id>||<key>`` in Redis.

ChatAgent (id ``user1``)
    ``meta``            ChatMeta: committed turns (= last seq), published seq, page size
    ``history-<n>``     HistoryPage n: entries ``n*page_size .. (n+1)*page_size - 1``
ResponseAgent (id ``response-user1``)
    ``stats``           ResponseStats: replies given, last seq answered
    ``calls-meta``      CallLogMeta: model calls recorded so far, page size
    ``calls-<n>``       CallPage: a ring of pages of CallRecords (``llm/call_log.py``)
MemoryAgentActor (id ``memory-user1``)
    ``memory``          MemoryState: the bounded window, last applied seq, reorder buffer

A turn writes ``meta`` and one (at a page boundary two) bounded pages in one transaction, so
its cost does not grow with the conversation. Values are read into fresh pydantic objects, so
a method never mutates the SDK's state cache in place (it keeps that cache after a failure).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

Role = Literal["user", "assistant", "system"]


class ChatMessage(BaseModel):
    role: Role
    content: str


class ChatMeta(BaseModel):
    turns: int = 0
    published_seq: int = 0
    page_size: int = 20
    # Period of the registered outbox reminder; 0: none registered.
    outbox_period_s: float = 0.0

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


Purpose = Literal["reply", "tool_step", "repair"]


class ToolCallRecord(BaseModel):
    name: str
    arguments: str = ""
    error: str | None = None


class CallRecord(BaseModel):
    """One request to the model: what the call log keeps and GET /chat/{id}/calls shows."""

    seq: int = Field(description="the turn it belonged to")
    at: datetime
    model: str
    purpose: Purpose = "reply"
    attempt: int = Field(1, description="1, then 2.. for retries of the same request")
    stream: bool = False
    latency_ms: int = 0
    tokens_in: int | None = None
    tokens_out: int | None = None
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    # invalid: the answer could not be used (unknown tool, bad arguments, empty) and was
    # followed by a repair request, or ended the turn once the repairs ran out.
    status: Literal["ok", "invalid", "error"] = "ok"
    error: str | None = None


class CallLogMeta(BaseModel):
    total: int = 0
    page_size: int = 20


class CallPage(BaseModel):
    number: int = Field(-1, description="which logical page the ring slot holds now")
    records: list[CallRecord] = Field(default_factory=list)


def page_key(page: int) -> str:
    return f"history-{page}"


MemoryState.model_rebuild()
