"""The HTTP request and response bodies (the actors' own payloads are in
``actors/interfaces.py``; where a view has the same shape it is used as it is)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from agent_actors.actors.interfaces import MemoryView
from agent_actors.models import ChatMessage
from agent_actors.store.dead_letters import DeadLetter

# The largest integer a query or path parameter takes: every JSON client reads it exactly
# (2^53 - 1; JavaScript's numbers are doubles). Seqs and counts never come near it.
MAX_INT = 2**53 - 1


# Built from the error tree in api/http_errors.py.
class ErrorOut(BaseModel):
    """Every error answer."""

    detail: str = Field(description="what went wrong, in a sentence")
    code: str = Field(description="stable and machine-readable: invalid_user_id, forbidden, ...")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"detail": "content must not be empty", "code": "invalid_input"}]
        }
    )


class MessageIn(BaseModel):
    role: Literal["user"] = "user"
    content: str = Field(description="the user's message (1 to 8,000 characters by default)")
    agent: str | None = Field(
        None,
        max_length=64,
        description="the agent profile (GET /agents) to talk to: each one named has its own "
        "thread of the session (its history, memory and turns); left out, or the default's "
        "name: the session's own thread, the default's",
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"role": "user", "content": "Hello, what can you do?"},
                {"role": "user", "content": "My order is late.", "agent": "support"},
            ]
        }
    )


class ApprovalIn(BaseModel):
    call_id: str = Field(
        min_length=1,
        max_length=64,
        description="the call decided on: GET /chat/{id}/turns/{seq} shows it (approval.call_id)",
    )
    approve: bool = Field(description="true: the tool call runs; false: the model is told no")
    note: str = Field("", max_length=1000, description="why, for the call record (and the model)")

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"call_id": "9f1c2a7b3d4e5f60", "approve": True, "note": "ok, the order is mine"}
            ]
        }
    )


class ChatReply(BaseModel):
    """The tutorial's shape: ``{"response": {"role", "content"}}`` (the seq is a header)."""

    response: ChatMessage


class CountOut(BaseModel):
    count: int = Field(description="replies ResponseAgent has given")


class MemoryOut(BaseModel):
    memory: list[ChatMessage] = Field(description="the window, oldest first")


class ReplayAnswer(MemoryView):
    replayed: list[int] = Field(description="seqs of the dead letters this replay applied")


class DeadLettersView(BaseModel):
    dead_letters: list[DeadLetter] = Field(description="the newest, oldest first (no content)")
    total: int = Field(description="dead letters ever recorded for this user")
    last_seq: int
    turns: int


class EventStats(BaseModel):
    received: int
    dropped: int = Field(description="malformed events, answered DROP")
    retried: int = Field(description="deliveries answered RETRY")
    dead_letters: int
    recent_dead_letters: list[dict[str, str | int | float | bool]] = Field(
        description="where each came from and which turn, never the messages"
    )


@dataclass
class SubscriptionStats:
    """This process's subscription counters (the dead letters themselves are persisted)."""

    received: int = 0
    dropped: int = 0
    retried: int = 0
    dead_letters: int = 0
    recent_dead_letters: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=20))
