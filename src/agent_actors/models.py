"""The vocabulary every layer shares: messages, model-call records, user ids.

The ground of the package (with ``settings`` and ``errors``): it imports nothing above it.
Storage layouts live in ``actors/state.py``, the event in ``events/schemas.py``, the HTTP
schemas in ``api/schemas.py``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from agent_actors.errors import InvalidUserId

Role = Literal["user", "assistant", "system"]


class ChatMessage(BaseModel):
    role: Role
    content: str


def is_unicode_text(text: str) -> bool:
    """False for a string UTF-8 cannot carry (a lone surrogate such as "\\ud800" from JSON):
    saved, it would fail every later read, event and record of its conversation."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def as_unicode_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (pairs are joined first)."""
    if is_unicode_text(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


Purpose = Literal["reply", "tool_step", "repair"]


class ToolCallRecord(BaseModel):
    """One tool call the model asked for in a request, and what became of it."""

    name: str
    id: str | None = Field(None, description="the model's id of the call")
    arguments: str = Field("", description="as the model wrote them (cut; empty: not recorded)")
    error: str | None = Field(None, description="why the call could not be used")
    result: str | None = Field(None, description="what the tool returned to the model (cut)")
    approved_by: str | None = Field(None, description="who approved the call, when one was needed")
    approval_note: str | None = Field(None, description="the approver's note")


class RecordedMessage(BaseModel):
    """One message of a model request, as the call record keeps it."""

    role: str
    content: str = Field("", description="cut to llm.record_chars")
    chars: int = Field(0, description="the content's length before it was cut")
    tool_calls: list[ToolCallRecord] = Field(
        default_factory=list, description="an assistant message's tool calls"
    )
    tool_call_id: str | None = Field(None, description="a tool result's call")


class CallRecord(BaseModel):
    """One request to the model: what the call log keeps and GET /chat/{id}/calls shows."""

    seq: int = Field(description="the turn it belonged to")
    at: datetime
    model: str
    agent: str | None = Field(None, description="the conversation's agent profile")
    request_id: str | None = Field(None, description="this request's own id (a random hex)")
    response_id: str | None = Field(None, description="the server's id of its answer")
    # The request and its answer, bounded (llm.record_*); empty when llm.record_content is off.
    content_recorded: bool = Field(False, description="whether the text below was kept")
    messages: list[RecordedMessage] = Field(
        default_factory=list, description="the request's messages: the first and the newest"
    )
    messages_sent: int = Field(0, description="messages the request had")
    answer: str | None = Field(None, description="the answer's text (cut)")
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


# No '|' (Dapr's key separator), no '/', no spaces: nothing that can split a Redis key or a URL.
# Patterns that validate input are used with ``fullmatch``: ``match`` with ``^...$`` accepts a
# final newline ("user1\n"), since ``$`` also matches just before one.
USER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]*")
# An agent profile's name (the agents file's keys, a turn's ``agent``).
AGENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def check_user_id(user_id: str, max_chars: int) -> str:
    if not user_id or len(user_id) > max_chars:
        raise InvalidUserId(f"a user id has 1 to {max_chars} characters (got {len(user_id)})")
    if not USER_ID.fullmatch(user_id):
        raise InvalidUserId(
            "a user id starts with a letter or digit and contains only letters, digits and "
            "'_', '.', '@', '-'"
        )
    return user_id
