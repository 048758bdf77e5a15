"""Delegated tasks Dapr gave up on, kept per session through daprd's state API until replayed
(``POST /chat/{id}/tasks/{task_id}/replay``) or the session is erased.

Unlike a memory event's dead letter, a task's is kept whole, its text included: the text is
in no history until the delegate answers it, and a replay needs it. The list is bounded (the
newest ``kept``), written with the ETag as the other dead letters are.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from agent_actors.events.task_messages import DelegationTask
from agent_actors.store.dead_letters import VersionedStore, update_with_etag


def session_key(session: str) -> str:
    return f"dead-letters|tasks|{session}"


class TaskLetter(BaseModel):
    task: DelegationTask
    at: datetime
    reason: str
    replayed_at: datetime | None = None


class SessionTaskLetters(BaseModel):
    letters: list[TaskLetter] = Field(default_factory=list, description="oldest first")
    total: int = Field(0, description="tasks ever dead-lettered in this session")


class TaskLetterStore:
    def __init__(self, store: VersionedStore, kept: int) -> None:
        self._store = store
        self._kept = kept

    async def of(self, session: str) -> SessionTaskLetters:
        raw, _ = await self._store.get(session_key(session))
        return SessionTaskLetters() if raw is None else SessionTaskLetters.model_validate(raw)

    async def record(self, letter: TaskLetter) -> None:
        task_id = letter.task.task_id

        def add(log: SessionTaskLetters) -> bool:
            if any(old.task.task_id == task_id for old in log.letters):
                return False  # a second dead-lettering of the same task
            log.letters = [*log.letters, letter][-self._kept :]
            log.total += 1
            return True

        await update_with_etag(
            self._store, session_key(letter.task.session), SessionTaskLetters, add
        )

    async def mark_replayed(self, session: str, task_id: str, at: datetime) -> None:
        def mark(log: SessionTaskLetters) -> bool:
            found = [old for old in log.letters if old.task.task_id == task_id]
            for old in found:
                old.replayed_at = at
            return bool(found)

        await update_with_etag(self._store, session_key(session), SessionTaskLetters, mark)

    async def forget(self, session: str) -> None:
        await self._store.delete(session_key(session))

    async def forget_thread(self, session: str, agent: str) -> None:
        """Drop the tasks ``agent``'s thread sent or was sent (its erasure: their text is
        the thread's); the key goes with the last one (only if unchanged since read)."""
        key = session_key(session)

        def drop(log: SessionTaskLetters) -> bool:
            kept = [x for x in log.letters if agent not in (x.task.caller, x.task.delegate)]
            changed = len(kept) != len(log.letters)
            log.letters = kept
            return changed

        await update_with_etag(self._store, key, SessionTaskLetters, drop)
        raw, etag = await self._store.get(key)
        if raw is not None and etag and not SessionTaskLetters.model_validate(raw).letters:
            await self._store.delete(key, etag)
