"""POST /chat/{id} and GET /chat/{id}/history: the conversation."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from agent_actors.actors import naming
from agent_actors.actors.boundary import unwrap
from agent_actors.actors.interfaces import ChatAgentInterface
from agent_actors.api.deps import Proxies, SettingsDep, UserId
from agent_actors.errors import ContentTooLarge, InvalidInput

router = APIRouter(tags=["chat"])


class MessageIn(BaseModel):
    role: Literal["user"] = "user"
    content: str


class MessageOut(BaseModel):
    role: str
    content: str


class ChatReply(BaseModel):
    response: MessageOut


class HistoryOut(BaseModel):
    history: list[MessageOut]
    total: int
    next_before: int | None = None
    pending_events: int = 0


@router.post("/chat/{id}", response_model=ChatReply)
async def chat(
    id: UserId, message: MessageIn, proxies: Proxies, settings: SettingsDep
) -> ChatReply:
    """Send a user message to ChatAgent(id); answers with the assistant's reply."""
    limit = settings.limits.max_content_chars
    if not message.content.strip():
        raise InvalidInput("content must not be empty")
    if len(message.content) > limit:
        raise ContentTooLarge(
            f"content has {len(message.content)} characters; the limit is {limit}"
        )
    proxy = proxies.create(naming.CHAT, id, ChatAgentInterface)
    reply = unwrap(await proxy.ProcessMessage(message.model_dump()))
    return ChatReply(response=MessageOut(role=reply["role"], content=reply["content"]))


@router.get("/chat/{id}/history", response_model=HistoryOut)
async def history(
    id: UserId,
    proxies: Proxies,
    settings: SettingsDep,
    limit: Annotated[int | None, Query(ge=1)] = None,
    before: Annotated[int | None, Query(ge=0)] = None,
) -> HistoryOut:
    """The latest entries of the conversation (default: the history view); page with ?before=."""
    limit = min(limit or settings.limits.history_view, settings.limits.history_view_max)
    proxy = proxies.create(naming.CHAT, id, ChatAgentInterface)
    page = unwrap(await proxy.GetConversationHistory({"limit": limit, "before": before}))
    return HistoryOut.model_validate(page)
