"""ChatAgent's own state as the actor and its collaborators read it.

``meta`` as this object knows it (what it published since its last save included), the long
turn's record, and the check that the stored conversation has not moved on past this object's
copy. Keys and layout are ``store/state.py``'s; the turn record is ``turn_record.py``.
"""

from __future__ import annotations

import logging
from typing import Any

from agent_actors.actors.turn_record import TURN_KEY, LongTurn
from agent_actors.errors import ConversationMoved
from agent_actors.store.history import HistoryStore
from agent_actors.store.state import ChatMeta

log = logging.getLogger(__name__)


class Conversation:
    def __init__(
        self, state_manager: Any, history: HistoryStore, committed: HistoryStore, user: str
    ) -> None:
        # The actor's state manager: what is staged, saved and cleared.
        self.state = state_manager
        self.history = history
        # The same pages and meta as the store has them (not the SDK's cache): read without
        # the actor's lock, to see whether another replica committed meanwhile.
        self.committed = committed
        self._user = user
        # (conversation, published_seq) this object published but did not save: only that
        # changed after the commit, so it rides on the next write of meta (the next turn's
        # transaction, or the outbox tick) instead of a transaction of its own per turn.
        self._published: tuple[str, int] = ("", 0)

    async def meta(self) -> ChatMeta:
        """``meta`` as saved, with what this object published since (``published``).

        Saved, ``published_seq`` may lag by what was published after the last save: a lost
        copy (a crash, a deactivation) only means the outbox republishes those events, which
        Memory ignores by seq. It never runs ahead, so no unpublished event looks published.
        """
        meta = await self.history.meta()
        conversation, published = self._published
        if conversation == meta.conversation and meta.published_seq < published <= meta.turns:
            meta.published_seq = published
        return meta

    def published(self, meta: ChatMeta) -> None:
        """``meta.published_seq`` is out, whether or not ``meta`` gets saved now."""
        self._published = (meta.conversation, meta.published_seq)

    def forget(self) -> None:
        """The conversation is being erased: nothing this object published counts any more."""
        self._published = ("", 0)

    async def save(self, meta: ChatMeta) -> None:
        await self.history.save_meta(meta)
        await self.state.save_state()

    async def check_not_moved_on(self, meta: ChatMeta) -> None:
        """Refuse to commit from a stale cache: the stored ``meta`` must still be the one this
        turn started from. It can have moved on if this object outlived a move of the actor
        (a daprd that came back, a rebalance whose drain timed out while a long turn ran)
        and another replica committed turns meanwhile. One read, without the lock's help."""
        stored = (await self.committed.meta()).turns
        if stored != meta.turns:
            log.warning(
                "user=%s: the conversation moved on (%d turns stored, %d cached); nothing saved",
                self._user,
                stored,
                meta.turns,
            )
            raise ConversationMoved(
                "this conversation's turn was committed elsewhere meanwhile; retry the request"
            )

    async def turn_record(self) -> LongTurn | None:
        """The long turn's record: open, or the last one that failed."""
        found, raw = await self.state.try_get_state(TURN_KEY)
        return LongTurn.model_validate(raw) if found else None

    async def open_turn(self, meta: ChatMeta) -> LongTurn | None:
        if not meta.open_turn:
            return None
        turn = await self.turn_record()
        return turn if turn is not None and turn.open and turn.seq == meta.open_turn else None
