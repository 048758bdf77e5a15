"""POST /chat/{id} and GET /chat/{id}/history: the conversation."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel

from agent_actors.actors import naming
from agent_actors.actors.boundary import unwrap
from agent_actors.actors.interfaces import ChatAgentInterface
from agent_actors.actors.state import is_unicode_text
from agent_actors.api.deps import Proxies, SettingsDep, UserId
from agent_actors.errors import ContentTooLarge, InvalidInput
from agent_actors.settings import Settings

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


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="repeat a request with the same key: the committed turn comes back, once",
    ),
]
# Answered on a repeat of a committed turn (the turn was not run again).
REPLAYED_HEADER = "Idempotent-Replayed"
# The turn's number in its conversation (1, 2, ...): a header, so the body keeps the
# tutorial's exact shape.
SEQ_HEADER = "Turn-Seq"


def turn_request(
    message: MessageIn, key: str | None, settings: Settings, **extra: str
) -> dict[str, Any]:
    """ChatAgent's ProcessMessage argument, once the message and key are known to be valid."""
    limits = settings.limits
    if not message.content.strip():
        raise InvalidInput("content must not be empty")
    if len(message.content) > limits.max_content_chars:
        raise ContentTooLarge(
            f"content has {len(message.content)} characters; "
            f"the limit is {limits.max_content_chars}"
        )
    if not is_unicode_text(message.content):
        raise InvalidInput("content is not valid Unicode text (it has a lone surrogate)")
    request: dict[str, Any] = {**message.model_dump(), **extra}
    if key is not None:
        if not 1 <= len(key) <= limits.max_idempotency_key_chars or not key.isprintable():
            raise InvalidInput(
                f"an Idempotency-Key has 1 to {limits.max_idempotency_key_chars} printable "
                "characters"
            )
        request["idempotency_key"] = key
    return request


@router.post("/chat/{id}", response_model=ChatReply)
async def chat(
    id: UserId,
    message: MessageIn,
    proxies: Proxies,
    settings: SettingsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ChatReply:
    """Send a user message to ChatAgent(id); answers with the assistant's reply."""
    request = turn_request(message, idempotency_key, settings)
    proxy = proxies.create(naming.CHAT, id, ChatAgentInterface)
    reply = unwrap(await proxy.ProcessMessage(request))
    response.headers[SEQ_HEADER] = str(reply["seq"])
    if reply.get("replayed"):
        response.headers[REPLAYED_HEADER] = "true"
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
