"""Erasing a conversation everywhere: ChatAgent's keys, its reminders, the user's other
actors and dead letters, an agent thread's registration (a DELETE, or retention).
Idempotent: a failure half-way leaves the rest for the next try, never a listed conversation
without its keys."""

from __future__ import annotations

import logging

from dapr.actor import Actor

from agent_actors import metrics
from agent_actors.actors.conversation import Conversation
from agent_actors.actors.idempotency import IDEMPOTENCY_KEY
from agent_actors.actors.outbox import OUTBOX_REMINDER, Outbox
from agent_actors.actors.proxies import MemoryAgentClient, ResponseAgentClient
from agent_actors.actors.retention import RETENTION_REMINDER
from agent_actors.actors.services import ActorDeps
from agent_actors.actors.session_listing import SessionListing
from agent_actors.actors.threads import ThreadEntry
from agent_actors.actors.turn_record import LONG_TURN_REMINDER, TURN_KEY
from agent_actors.store.history import META_KEY
from agent_actors.store.state import page_key

log = logging.getLogger(__name__)


class Erasure:
    def __init__(
        self,
        actor: Actor,
        deps: ActorDeps,
        conversation: Conversation,
        outbox: Outbox,
        listing: SessionListing,
    ) -> None:
        self._actor = actor
        self._deps = deps
        self._conversation = conversation
        self._outbox = outbox
        self._listing = listing
        self._user = actor.id.id
        self._thread = ThreadEntry(deps.threads, self._user)

    async def erase(self) -> None:
        """Under ChatAgent's turn lock, so a turn runs wholly before or after it; ChatAgent's
        keys go first, so a late event that reaches Memory afterwards finds no conversation
        (or another one) and is dropped."""
        history = self._conversation.history
        meta = await history.meta()
        self._conversation.forget()
        # First: meta names the bucket, and a failure here (the delete fails, and is retried)
        # must not leave a listed conversation without its keys.
        await self._listing.remove(meta)
        # One page past the last committed entry too: nothing should be there, but a key
        # that outlived its meta would otherwise stay for ever.
        keys = [META_KEY, IDEMPOTENCY_KEY, TURN_KEY]
        keys += [page_key(n) for n in range(history.last_page(meta) + 2)]
        state = self._conversation.state
        for key in keys:
            await state.try_remove_state(key)
        await state.save_state()
        # A long turn's run of this process stops; one elsewhere finds its turn gone (EndRun
        # drops its result: it cannot bring the conversation back).
        self._deps.runs.cancel(self._user)
        for name in (OUTBOX_REMINDER, LONG_TURN_REMINDER):
            await self._drop_reminder(name)
        await self._outbox.stop_timer()
        metrics.OUTBOX.set(self._user, 0)
        await ResponseAgentClient(self._deps.proxies, self._user).delete()
        await MemoryAgentClient(self._deps.proxies, self._user).delete()
        # Dead letters are the user's too: kept outside the actors (dead_letters.py).
        await self._deps.dead_letters.forget(self._user)
        if self._deps.task_letters is not None:
            # So are the delegated tasks it sent or was sent that Dapr gave up on (kept with
            # their text, per session): retention erases a thread, never a whole session.
            agent = self._thread.agent or meta.agent or self._deps.profiles.default
            await self._deps.task_letters.forget_thread(self._thread.session, agent)
        await self._forget_streams(meta.turns + 1)
        # An agent's thread leaves its session's registry once nothing of it is left.
        await self._thread.erased()
        # Last: until everything above is gone, a retention erase that failed half-way (no
        # client retries it, as one retries a DELETE) fires again and finishes.
        await self._drop_reminder(RETENTION_REMINDER)
        log.info("user=%s: conversation deleted (%d turns)", self._user, meta.turns)

    async def _forget_streams(self, last_seq: int) -> None:
        """The turns' streamed events (streams/turn_log.py), else gone at their TTL."""
        turn_log = self._deps.streams.log if self._deps.streams is not None else None
        if turn_log is None:
            return
        try:
            await turn_log.forget(self._user, last_seq)
        except Exception as exc:
            log.warning("user=%s: turn logs stay until their TTL: %r", self._user, exc)

    async def _drop_reminder(self, name: str) -> None:
        try:
            await self._actor.unregister_reminder(name)
        except Exception as exc:
            # If it fires, it finds no conversation and drops itself.
            log.info("user=%s: reminder %s stays for now: %s", self._user, name, exc)
