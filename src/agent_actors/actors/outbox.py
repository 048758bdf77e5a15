"""ChatAgent's outbox: every committed turn's ConversationUpdated gets published.

A turn's event is pending from its commit (``meta.published_seq < meta.turns``) until it is
published. The turn publishes it right after its commit; one that could not be published
stays pending, and the ``outbox`` reminder republishes it without waiting for new traffic and
across restarts (reminders live in the scheduler). While the scheduler refuses reminders, a
timer (``outbox-cover``, in daprd's memory) covers for it.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from dapr.actor import Actor

from agent_actors import metrics
from agent_actors.actors.conversation import Conversation
from agent_actors.actors.services import ActorDeps
from agent_actors.events.conversation_updated import ConversationUpdated
from agent_actors.events.publisher import PublishFailed, Unpublishable
from agent_actors.models import ChatMessage
from agent_actors.sidecar.reminders import register_unless_tripped
from agent_actors.store.state import ChatMeta

log = logging.getLogger(__name__)

OUTBOX_REMINDER = "outbox"
OUTBOX_TIMER = "outbox-cover"
# Bounds the catch-up work one turn or one reminder tick does, so a long outage never turns
# one call into an unbounded one; the reminder keeps going until the outbox is empty.
PUBLISH_BATCH = 50

# A committed turn's pair (user message, reply) by seq: what the publisher need not read.
Known = dict[int, tuple[ChatMessage, ChatMessage]]


class Outbox:
    def __init__(
        self,
        actor: Actor,
        deps: ActorDeps,
        conversation: Conversation,
        on_timer: Callable[[Any], Awaitable[None]],
    ) -> None:
        self._actor = actor
        self._deps = deps
        self._conversation = conversation
        self._user = actor.id.id
        # The actor's method the timer calls: the SDK fires a timer by its callback's name.
        self._on_timer = on_timer
        self._timer_armed = False

    async def publish(self, meta: ChatMeta, known: Known) -> None:
        """Publish what is pending (up to PUBLISH_BATCH), in seq order, until one fails."""
        for seq in list(meta.pending)[:PUBLISH_BATCH]:
            pair = known.get(seq) or await self._conversation.history.turn(meta, seq)
            event = ConversationUpdated(
                user_id=self._user,
                conversation=meta.conversation,
                seq=seq,
                input=pair[0],
                output=pair[1],
                timestamp=datetime.now(UTC),
            )
            try:
                await self._deps.publisher.publish(event)
            except Unpublishable as exc:
                # Can never be sent (it cannot be encoded): skip it rather than block every
                # later event behind it; Memory repairs the gap from the committed history.
                log.error("user=%s seq=%d: event skipped: %s", self._user, seq, exc)
            except PublishFailed as exc:
                log.warning(
                    "user=%s seq=%d: publish failed, kept in the outbox: %s", self._user, seq, exc
                )
                return
            meta.published_seq = seq
            log.debug("user=%s seq=%d: published ConversationUpdated", self._user, seq)

    async def arm(self, meta: ChatMeta, period_s: float) -> None:
        """(Re)register the outbox reminder with ``period_s``.

        Two periods: a slow watchdog, armed before the commit of an active user's first turn so
        that a crash between commit and publish still gets its event out; and a fast one once a
        publish has failed. Registering costs a scheduler write (~20 ms, serialized across
        users), so it happens once per watchdog period of activity, not once per turn.
        """
        if meta.outbox_period_s == period_s:
            return
        interval = timedelta(seconds=period_s)
        breaker = self._deps.reminders
        budget = self._deps.settings.limits.post_commit_timeout_s
        try:
            await register_unless_tripped(
                self._actor, breaker, OUTBOX_REMINDER, interval, interval, budget
            )
        except Exception as exc:
            # Left unarmed in meta, so the next turn (or tick) registers it again.
            meta.outbox_arm_failures += 1
            log.warning(
                "user=%s: could not arm the outbox reminder (%d failures so far): %r",
                self._user,
                meta.outbox_arm_failures,
                exc,
            )
            if meta.pending:
                await self._cover_with_timer()
            return
        breaker.reset()
        meta.outbox_period_s = period_s

    async def tick(self) -> ChatMeta:
        """Publish what is pending; drop the reminder once nothing is."""
        try:
            meta = await self._conversation.meta()
            if not meta.turns:
                # The conversation was deleted: nothing to publish, nothing to save.
                await self._drop_reminder()
                return meta
            await self.publish(meta, {})
            if meta.pending:
                await self.arm(meta, self._deps.settings.limits.republish_interval_s)
            else:
                meta.outbox_period_s = 0.0
            await self._conversation.save(meta)
            # Only once meta says "no reminder" is it dropped: the other order could leave a
            # pending event with no reminder if the save failed. A failed unregister leaves a
            # reminder that finds nothing to do and tries again.
            metrics.OUTBOX.set(self._user, len(meta.pending))
            if not meta.pending:
                await self._drop_reminder()
        except BaseException:
            await self._conversation.state.clear_cache()
            raise
        return meta

    async def on_timer(self) -> None:
        """The timer that covers for a reminder the scheduler would not take."""
        meta = await self.tick()
        fast = self._deps.settings.limits.republish_interval_s
        if not meta.pending or meta.outbox_period_s == fast:
            # Done, or the fast reminder is armed again: it takes over. (The slow watchdog
            # alone would leave the pending event waiting for up to its whole period.)
            await self._actor.unregister_timer(OUTBOX_TIMER)
            self._timer_armed = False

    async def stop_timer(self) -> None:
        """The conversation is erased: a timer left would only find nothing to publish."""
        if self._timer_armed:
            try:
                await self._actor.unregister_timer(OUTBOX_TIMER)
                self._timer_armed = False
            except Exception as exc:
                log.info("user=%s: the outbox timer stays for now: %s", self._user, exc)

    async def _cover_with_timer(self) -> None:
        """Timers live in daprd's memory, not in the scheduler: one keeps the outbox going
        while reminders cannot be registered, so a pending event does not wait for the
        user's next turn (it does not survive a crash; the next turn arms the reminder)."""
        if self._timer_armed:
            return
        period = timedelta(seconds=self._deps.settings.limits.republish_interval_s)
        try:
            await self._actor.register_timer(OUTBOX_TIMER, self._on_timer, b"", period, period)
        except Exception:
            log.warning("user=%s: could not arm the outbox timer either", self._user, exc_info=True)
            return
        self._timer_armed = True

    async def _drop_reminder(self) -> None:
        try:
            await self._actor.unregister_reminder(OUTBOX_REMINDER)
        except Exception as exc:
            # It fires again, finds nothing pending and tries again: harmless.
            log.info("user=%s: the outbox reminder stays for now: %s", self._user, exc)
