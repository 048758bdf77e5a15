"""POST /chat/{id} and GET /chat/{id}/history: the conversation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from agent_actors.actors.interfaces import HistoryQuery, HistoryView, TurnRequest
from agent_actors.api.deps import ChatActor, SettingsDep
from agent_actors.api.schemas import ChatReply, MessageIn
from agent_actors.errors import ContentTooLarge, InvalidInput
from agent_actors.models import ChatMessage, is_unicode_text
from agent_actors.settings import Settings

router = APIRouter(tags=["chat"])

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
    message: MessageIn, key: str | None, settings: Settings, stream_id: str | None = None
) -> TurnRequest:
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
    if key is not None and (
        not 1 <= len(key) <= limits.max_idempotency_key_chars or not key.isprintable()
    ):
        raise InvalidInput(
            f"an Idempotency-Key has 1 to {limits.max_idempotency_key_chars} printable characters"
        )
    return TurnRequest(
        role=message.role, content=message.content, stream_id=stream_id, idempotency_key=key
    )


@router.post("/chat/{id}", response_model=ChatReply)
async def chat(
    message: MessageIn,
    chat_agent: ChatActor,
    settings: SettingsDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> ChatReply:
    """Send a user message to ChatAgent(id); answers with the assistant's reply."""
    reply = await chat_agent.process_message(turn_request(message, idempotency_key, settings))
    response.headers[SEQ_HEADER] = str(reply.seq)
    if reply.replayed:
        response.headers[REPLAYED_HEADER] = "true"
    return ChatReply(response=ChatMessage(role=reply.role, content=reply.content))


@router.get("/chat/{id}/history", response_model=HistoryView)
async def history(
    chat_agent: ChatActor,
    settings: SettingsDep,
    limit: Annotated[int | None, Query(ge=1)] = None,
    before: Annotated[int | None, Query(ge=0)] = None,
) -> HistoryView:
    """The latest entries of the conversation (default: the history view); page with ?before=."""
    limit = min(limit or settings.limits.history_view, settings.limits.history_view_max)
    return await chat_agent.history(HistoryQuery(limit=limit, before=before))
