"""Retention: a conversation idle for ``limits.retention_s`` is erased.

One reminder per conversation (``retention``), armed once, not at every turn (a scheduler
write costs ~15 ms): when it fires early, it reads the latest activity from the deps' clock
and re-arms itself for the rest of the time.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from dapr.actor import Actor

from agent_actors.actors.conversation import Conversation
from agent_actors.actors.services import ActorDeps
from agent_actors.sidecar.reminders import register_unless_tripped
from agent_actors.store.state import ChatMeta

log = logging.getLogger(__name__)

RETENTION_REMINDER = "retention"


class Retention:
    def __init__(self, actor: Actor, deps: ActorDeps, conversation: Conversation) -> None:
        self._actor = actor
        self._deps = deps
        self._conversation = conversation
        self._user = actor.id.id
        # The attempt before this turn's reply skipped the scheduler for the open breaker.
        self._skipped_before_reply = False

    async def ensure_armed(self, meta: ChatMeta, *, at_commit: bool = False) -> None:
        """Arm retention before a turn's first write of any kind, not only at its commit: a
        turn that fails still leaves its model calls' records (and a long turn its ``turn``
        key and ``meta``), and a conversation whose every turn failed must be erased too. A
        failed turn saves no ``meta``, so the next one arms it again (which also moves the
        erasure to ``retention_s`` after the newest failed turn); once a ``meta`` saying
        armed is saved, no turn pays for it again.

        A turn waits on the scheduler at most once. The attempt before the reply skips it
        while the breaker is open (any registration of the process failed just now); then the
        one at the commit (``at_commit``) waits for it anyway: a conversation that never has
        another turn would otherwise never be erased. If the attempt before the reply did
        wait (and failed), the commit respects the breaker, and the next turn tries again."""
        retention = self._deps.settings.limits.retention_s
        if retention is None or meta.retention_armed:
            return
        if at_commit:
            even_if_tripped, self._skipped_before_reply = self._skipped_before_reply, False
        else:
            even_if_tripped, self._skipped_before_reply = False, self._deps.reminders.open
        await self._arm(meta, retention, even_if_tripped=even_if_tripped)

    async def tick(self, erase: Callable[[], Awaitable[None]]) -> None:
        """The reminder: ``erase`` the conversation if it is idle past the retention, else
        re-arm for the rest of the time."""
        retention = self._deps.settings.limits.retention_s
        if retention is None:
            await self._actor.unregister_reminder(RETENTION_REMINDER)
            return
        try:
            meta = await self._conversation.meta()
            # No meta (turns 0) is a conversation whose turns all failed, or a delete that
            # failed half-way: idle since its latest long turn started (none: for ever).
            turn = await self._conversation.turn_record()
            latest = max(meta.last_activity, turn.created_at if turn is not None else 0.0)
            idle = self._deps.clock() - latest
            # A long turn still open (waiting for an approval, say) is activity.
            if idle >= retention and not meta.open_turn:
                log.info("user=%s: idle for %.0f s, past the retention: erased", self._user, idle)
                await erase()
                return
            await self._arm(meta, retention, due_s=max(0.0, retention - idle))
            if not meta.retention_armed:
                # Saved so that the next turn registers it again.
                await self._conversation.save(meta)
        except BaseException:
            await self._conversation.state.clear_cache()
            raise  # the reminder fires again

    async def _arm(
        self, meta: ChatMeta, retention_s: float, due_s: float = 0, *, even_if_tripped: bool = False
    ) -> None:
        due = timedelta(seconds=due_s or retention_s)
        try:
            # A turn tries before its reply and again at its commit: it waits for the
            # scheduler once at most (ensure_armed), not twice.
            await register_unless_tripped(
                self._actor,
                self._deps.reminders,
                RETENTION_REMINDER,
                due,
                timedelta(seconds=retention_s),
                self._deps.settings.limits.post_commit_timeout_s,
                even_if_tripped=even_if_tripped,
            )
        except Exception as exc:
            # meta says unarmed: the next turn tries again.
            log.warning("user=%s: could not arm the retention reminder: %r", self._user, exc)
            meta.retention_armed = False
            return
        meta.retention_armed = True
