"""The event ChatAgent publishes after each committed turn, and Dapr's subscription answers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, Field

from agent_actors.models import ChatMessage


class ConversationUpdated(BaseModel):
    event_type: Literal["ConversationUpdated"] = "ConversationUpdated"
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
