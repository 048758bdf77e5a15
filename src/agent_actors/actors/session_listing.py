"""ChatAgent's entry in the session index (GET /sessions; ``store/session_index.py``)."""

from __future__ import annotations

import asyncio
import logging

from agent_actors.store.session_index import IndexEntry, SessionIndex
from agent_actors.store.state import ChatMeta

log = logging.getLogger(__name__)


class SessionListing:
    def __init__(self, index: SessionIndex | None, user: str) -> None:
        # None: no index is kept.
        self._index = index
        self._user = user

    async def update(self, meta: ChatMeta, budget_s: float) -> None:
        """List the conversation in the session index under its latest activity: only when
        that falls in another bucket than the one it is listed in (at most once per
        ``index_bucket_s``). The new bucket is recorded as soon as the conversation is in it,
        before the old one is left: a removal that fails leaves an orphan in the old bucket,
        which listings recognise by ``meta.indexed_bucket`` and repair (session_index.py).
        A failed add leaves ``meta.indexed_bucket`` as it was: the next turn tries again.
        Never raises: the turn is committed."""
        index = self._index
        if index is None or index.bucket(meta.last_activity) == meta.indexed_bucket:
            return
        entry = IndexEntry(
            created_at=meta.created_at, last_activity=meta.last_activity, turns=meta.turns
        )
        try:
            async with asyncio.timeout(budget_s):
                old, meta.indexed_bucket = meta.indexed_bucket, await index.add(self._user, entry)
                if old != meta.indexed_bucket:
                    await index.remove(self._user, old)
        except Exception:
            log.warning("user=%s: the session index update failed", self._user, exc_info=True)

    async def remove(self, meta: ChatMeta) -> None:
        """Unlist the conversation (its erasure); raises if the index would not."""
        if self._index is not None:
            await self._index.remove(self._user, meta.indexed_bucket)
