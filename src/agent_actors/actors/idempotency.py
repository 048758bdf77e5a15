"""A request ChatAgent has seen before gets the turn it already is, never a second one.

daprd may deliver an actor call twice (its retries while an actor moves): ``meta`` keeps the
newest request ids. A client may retry with the same ``Idempotency-Key``: the idempotency log
(state key ``idempotency``) keeps the newest keys and the turn each one committed. A request
that is the open long turn's gets that turn's view.
"""

from __future__ import annotations

import hashlib
import logging
from typing import Any

from agent_actors.actors.conversation import Conversation
from agent_actors.actors.interfaces import TurnReply, TurnRequest
from agent_actors.errors import IdempotencyConflict, TurnInProgress
from agent_actors.models import ChatMessage
from agent_actors.store.state import ChatMeta, IdempotencyLog, IdempotencyRecord

log = logging.getLogger(__name__)

IDEMPOTENCY_KEY = "idempotency"


class KnownTurns:
    def __init__(self, conversation: Conversation, keys: IdempotencyKeys, user: str) -> None:
        self._conversation = conversation
        self._keys = keys
        self._user = user

    async def of(
        self, meta: ChatMeta, request: TurnRequest, message: ChatMessage
    ) -> TurnReply | None:
        """The turn this request already is (a second delivery, a repeated Idempotency-Key),
        or None for a new one; a new one while a long turn is open is a 409."""
        delivered = dict(meta.recent_requests).get(request.request_id or "")
        if delivered is not None:
            log.warning(
                "user=%s seq=%d: the same request delivered again, nothing saved",
                self._user,
                delivered,
            )
            return await self._committed_reply(meta, delivered)
        turn = await self._conversation.open_turn(meta)
        key = request.idempotency_key
        if turn is not None and (
            (request.request_id and turn.request_id == request.request_id)
            or (key and turn.idempotency_key == key)
        ):
            if turn.job.message != message:
                raise IdempotencyConflict(
                    "this Idempotency-Key was used for a turn with another message"
                )
            return TurnReply(
                role="assistant", content="", seq=turn.seq, replayed=True, turn=turn.view()
            )
        done = await self._keys.seq_of(key, message) if key else None
        if done is not None:
            return await self._committed_reply(meta, done)
        if turn is not None:
            raise TurnInProgress(
                f"turn {turn.seq} of this conversation is {turn.status.replace('_', ' ')}: "
                f"GET /chat/{{id}}/turns/{turn.seq}; a new turn can start once it is over"
            )
        return None

    async def _committed_reply(self, meta: ChatMeta, seq: int) -> TurnReply:
        _user, reply = await self._conversation.history.turn(meta, seq)
        return TurnReply(role=reply.role, content=reply.content, seq=seq, replayed=True)


class IdempotencyKeys:
    def __init__(self, state_manager: Any, keep: int, user: str) -> None:
        self._sm = state_manager
        self._keep = keep
        self._user = user

    async def seq_of(self, key: str, message: ChatMessage) -> int | None:
        """The seq of the committed turn ``key`` names, or None for a new key; the same key
        with another message is a conflict."""
        found = (await self._log()).find(key)
        if found is None:
            return None
        if found.fingerprint != fingerprint(message):
            raise IdempotencyConflict(
                "this Idempotency-Key was used for a turn with another message"
            )
        log.info("user=%s seq=%d: repeated Idempotency-Key, nothing saved", self._user, found.seq)
        return found.seq

    async def remember(self, key: str, seq: int, message: ChatMessage) -> None:
        """Staged with the turn's commit, in its transaction."""
        log_ = await self._log()
        record = IdempotencyRecord(key=key, seq=seq, fingerprint=fingerprint(message))
        log_.remember(record, self._keep)
        await self._sm.set_state(IDEMPOTENCY_KEY, log_.model_dump())

    async def _log(self) -> IdempotencyLog:
        found, raw = await self._sm.try_get_state(IDEMPOTENCY_KEY)
        return IdempotencyLog.model_validate(raw) if found else IdempotencyLog()


def fingerprint(message: ChatMessage) -> str:
    return hashlib.sha256(message.model_dump_json().encode()).hexdigest()
