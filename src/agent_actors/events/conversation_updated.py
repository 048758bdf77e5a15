"""The event ChatAgent publishes after each committed turn, how a delivery of it is read, and
Dapr's subscription answers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from agent_actors.errors import InvalidInput
from agent_actors.models import ChatMessage, check_thread_id


class ConversationUpdated(BaseModel):
    event_type: Literal["ConversationUpdated"] = "ConversationUpdated"
    # The conversation's actor id: a session's default thread (the user id) or another
    # agent's thread of it (``<user id>~<agent>``, models.thread_id).
    user_id: str = Field(min_length=1)
    seq: int = Field(ge=1, description="the user's turn number; Memory applies each once, in order")
    input: ChatMessage
    output: ChatMessage
    timestamp: datetime
    # ChatMeta.conversation: a late event of a deleted conversation is never applied.
    conversation: str = ""

    @property
    def actor_id(self) -> str:
        return self.user_id


class SubscriptionStatus(StrEnum):
    """Dapr's pub/sub protocol: a 200 without one of these is taken as SUCCESS."""

    SUCCESS = "SUCCESS"
    RETRY = "RETRY"
    DROP = "DROP"


def parse_event(body: Any, max_id_chars: int) -> ConversationUpdated:
    """The ConversationUpdated in a CloudEvent as Dapr delivers it (``data``), its thread id
    checked as the API checks a user id."""
    if not isinstance(body, dict):
        raise InvalidInput("the body is not a CloudEvent object")
    event = ConversationUpdated.model_validate(body.get("data"))
    check_thread_id(event.user_id, max_id_chars)
    return event


def why_unreadable(exc: Exception) -> str:
    """Which fields failed and how, never their values (they may be a user's messages)."""
    if isinstance(exc, InvalidInput):
        return exc.message[:200]
    if isinstance(exc, ValidationError):
        errors = exc.errors(include_input=False, include_url=False)[:5]
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'data'}: {e['type']}" for e in errors)
    return "the body is not JSON"
