"""ChatAgent (id = user id): owns the conversation, commits each turn, publishes its event.

One turn: ResponseAgent answers; the user message, the reply and the new ``meta`` are saved in
one actor-state transaction; then ConversationUpdated is published. An event that could not be
published stays pending (``meta.published_seq < meta.turns``) and a reminder republishes it,
without waiting for new traffic and across restarts (reminders live in the scheduler).
Long turns, whose reply is written outside any actor call (and approvals), are in
``long_turns.py``; they commit through the same ``_commit_turn``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from dapr.actor import Actor, ActorId, Remindable
from dapr.actor.runtime.context import ActorRuntimeContext

from agent_actors import logs, metrics
from agent_actors.actors import turn_runner
from agent_actors.actors.interfaces import (
    ChatAgentInterface,
    ExportEntry,
    ExportPage,
    ExportQuery,
    HistoryQuery,
    HistoryView,
    PausedJob,
    ReplyJob,
    SessionSummary,
    TurnReply,
    TurnRequest,
)
from agent_actors.actors.long_turns import LongTurns, TurnOrigin, checked_message
from agent_actors.actors.proxies import MemoryAgentClient, ResponseAgentClient
from agent_actors.actors.services import ActorDeps
from agent_actors.actors.turn_record import LONG_TURN_REMINDER, TURN_KEY
from agent_actors.errors import (
    AgentConflict,
    ConversationMoved,
    IdempotencyConflict,
    UnknownAgent,
)
from agent_actors.events.publisher import PublishFailed, Unpublishable
from agent_actors.events.schemas import ConversationUpdated
from agent_actors.models import ChatMessage
from agent_actors.sidecar import reminders
from agent_actors.sidecar.actor_runtime import saved_state_reader
from agent_actors.sidecar.boundary import actor_method
from agent_actors.sidecar.state_cache import cached_value, keep_bounded
from agent_actors.store import payload
from agent_actors.store.committed import committed_history
from agent_actors.store.history import META_KEY, HistoryStore
from agent_actors.store.session_index import IndexEntry
from agent_actors.store.state import ChatMeta, IdempotencyLog, IdempotencyRecord, page_key

log = logging.getLogger(__name__)

OUTBOX_REMINDER = "outbox"
IDEMPOTENCY_KEY = "idempotency"
OUTBOX_TIMER = "outbox-cover"
RETENTION_REMINDER = "retention"
# Bounds the catch-up work one turn or one reminder tick does, so a long outage never turns
# one call into an unbounded one; the reminder keeps going until the outbox is empty.
PUBLISH_BATCH = 50
# The share of an actor payload a turn's job gives the prompt history it carries: the job
# also holds the message, and a long turn keeps it in its record with the model calls.
PROMPT_SHARE = 4


# Remindable is named as a direct base: the SDK only fires reminders of a class that has it
# in __bases__ (ActorTypeInformation.is_remindable).
class ChatAgent(LongTurns, Actor, ChatAgentInterface, Remindable):
    def __init__(self, ctx: ActorRuntimeContext, actor_id: ActorId, deps: ActorDeps) -> None:
        super().__init__(ctx, actor_id)
        self._bind(deps)

    def _bind(self, deps: ActorDeps) -> None:
        """Everything the actor derives from its deps (unit tests bind mock actors here)."""
        self._deps = deps
        self._user = self.id.id
        self._history = HistoryStore(self._state_manager, deps.settings.limits.history_page_size)
        # Bytes of entries one actor payload may carry (daprd's max body size).
        self._budget = payload.budget(deps.settings.dapr)
        # This actor's committed state as the store has it (not the SDK's cache), and the
        # reader of other actors' saved state (a long turn's run reads Memory's window).
        self._load = saved_state_reader(self)
        self._committed = committed_history(
            self._load, self._user, deps.settings.limits.history_page_size
        )
        self._timer_armed = False
        # (conversation, published_seq) this object published but did not save: only that
        # changed after the commit, so it rides on the next write of meta (the next turn's
        # transaction, or the outbox tick) instead of a transaction of its own per turn.
        self._unsaved_published: tuple[str, int] = ("", 0)
        keep_bounded(self, self._cache_keep)

    async def _meta(self) -> ChatMeta:
        """``meta`` as saved, with what this object published since (see ``_after_commit``).

        Saved, ``published_seq`` may lag by what was published after the last save: a lost
        copy (a crash, a deactivation) only means the outbox republishes those events, which
        Memory ignores by seq. It never runs ahead, so no unpublished event looks published.
        """
        meta = await self._history.meta()
        conversation, published = self._unsaved_published
        if conversation == meta.conversation and meta.published_seq < published <= meta.turns:
            meta.published_seq = published
        return meta

    def _cache_keep(self) -> set[str]:
        """meta, the idempotency keys, a long turn, and the pages the next turn reads (its
        prompt's tail) and writes: never the older pages a history view or the outbox read
        once."""
        keep = {META_KEY, IDEMPOTENCY_KEY, TURN_KEY}
        meta = cached_value(self._state_manager, META_KEY)
        if isinstance(meta, dict):
            entries, size = 2 * int(meta.get("turns", 0)), int(meta.get("page_size", 1))
            keep |= {page_key(entries // size), page_key(max(0, entries - 1) // size)}
        return keep

    @actor_method
    async def process_message(self, user_input: dict[str, Any]) -> dict[str, Any]:
        request = TurnRequest.model_validate(user_input)
        message = checked_message(request)
        meta = await self._meta()
        known = await self._known_turn(meta, request, message)
        if known is not None:
            return known.model_dump()
        job = await self._reply_job(meta, request, message, request.stream_id)
        # Before ResponseAgent runs: a failed reply still saves its model calls' records.
        await self._arm_retention_first(meta)
        seq = job.seq
        log.debug("turn user=%s seq=%d: delegating to ResponseAgent", self._user, seq)
        reply = await ResponseAgentClient(self._deps.proxies, self._user).process_message(job)
        if isinstance(reply, PausedJob):
            return (await self._pause_turn(meta, request, job, reply)).model_dump()
        await self._check_not_moved_on(meta)
        await self._commit_turn(meta, job, reply, request)
        return TurnReply(role=reply.role, content=reply.content, seq=seq).model_dump()

    async def _reply_job(
        self, meta: ChatMeta, request: TurnRequest, message: ChatMessage, stream_id: str | None
    ) -> ReplyJob:
        """A new turn, once it may start (its agent, the turn bound): what ResponseAgent
        writes the reply from: the message, the recent history (as many entries as the
        agent's profile asks for), the agent."""
        agent = self._agent_for(meta, request.agent)
        self._check_turn_limit(meta)
        seq = meta.turns + 1
        logs.bind(user=self._user, seq=seq)
        profile = self._deps.profiles.resolve(agent)
        limits = self._deps.settings.limits
        window = limits.prompt_history if profile.prompt_history is None else profile.prompt_history
        recent = await self._history.tail(meta, window)
        # Only the newest that fit a share of the payload travel in the job (and in a long
        # turn's record, beside the rest of the turn); ResponseAgent reads the older ones
        # from the committed history, where they are the same entries.
        inline = payload.newest_that_fit(recent, self._budget // PROMPT_SHARE) if recent else []
        return ReplyJob(
            seq=seq,
            message=message,
            recent=inline,
            earlier_start=meta.entries - len(recent),
            earlier_end=meta.entries - len(inline),
            stream_id=stream_id,
            agent=agent,
        )

    async def _commit_turn(
        self, meta: ChatMeta, job: ReplyJob, reply: ChatMessage, origin: TurnOrigin
    ) -> None:
        """Save the turn (history, meta, pending event, key) in one transaction, then publish
        it (ProcessMessage, and a long turn's EndRun: with what it staged)."""
        seq, message = job.seq, job.message
        limits = self._deps.settings.limits
        now = self._deps.clock()
        if not meta.conversation:
            # A new conversation (one from before ids gets one too: at its first event with
            # the id, Memory starts a window for it, filled from the history).
            meta.conversation = uuid.uuid4().hex
            meta.created_at = meta.created_at or now
        await self._history.append(meta, [message, reply], now)
        meta.turns, meta.last_activity, meta.agent = seq, now, job.agent
        if origin.request_id:
            meta.recent_requests = [*meta.recent_requests, (origin.request_id, seq)][-16:]
        if limits.retention_s is not None and not meta.retention_armed:
            await self._arm_retention(meta, limits.retention_s)
        if origin.idempotency_key:
            await self._remember(origin.idempotency_key, seq, message)
        if not meta.outbox_period_s:
            await self._arm_outbox(meta, limits.outbox_watchdog_s)
        await self._history.save_meta(meta)
        # The turn is durable from here on (history and pending event in one transaction).
        await self._state_manager.save_state()
        # The one INFO line of a turn (every hop also logs one at DEBUG: at INFO they cost
        # ~4 % of the app's CPU under load).
        log.info("turn user=%s seq=%d: committed", self._user, seq)
        await self._after_commit(meta, seq, (message, reply))
        metrics.OUTBOX.set(self._user, len(meta.pending))

    def _agent_for(self, meta: ChatMeta, asked: str | None) -> str:
        """The turn's agent profile: the one asked for at the first turn (else the default),
        the conversation's own after it; asking for another one later is a conflict."""
        book = self._deps.profiles
        if asked is not None and book.profile(asked) is None:
            raise UnknownAgent(
                f"there is no agent {asked!r}; the agents are {', '.join(sorted(book.agents))} "
                "(GET /agents)"
            )
        # A conversation from before profiles has none stored: it was the default's.
        kept = meta.agent or (book.default if meta.turns else "")
        if not kept:
            return asked or book.default
        if asked is not None and asked != kept:
            raise AgentConflict(
                f"this conversation talks to agent {kept!r}; DELETE /chat/{{id}} first to "
                f"talk to {asked!r}"
            )
        return kept

    async def _check_not_moved_on(self, meta: ChatMeta) -> None:
        """Refuse to commit from a stale cache: the stored ``meta`` must still be the one this
        turn started from. It can have moved on if this object outlived a move of the actor
        (a daprd that came back, a rebalance whose drain timed out while a long turn ran)
        and another replica committed turns meanwhile. One read, without the lock's help."""
        stored = (await self._committed.meta()).turns
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

    async def _after_commit(
        self, meta: ChatMeta, seq: int, pair: tuple[ChatMessage, ChatMessage]
    ) -> None:
        """Publish the turn's event; nothing here may turn a committed turn into an error.

        Each step has its own short budget, not the caller's: a hung broker, scheduler or
        sidecar leaves the event pending, and the outbox (reminder, or the timer that covers
        for it) publishes it later. The save happens here, so the SDK's own save after the
        method has nothing left to fail with.
        """
        budget = self._deps.settings.limits.post_commit_timeout_s
        committed = meta.model_dump()
        try:
            async with asyncio.timeout(budget):
                await self._publish_pending(meta, {seq: pair})
        except Exception:
            log.warning(
                "user=%s seq=%d: publishing after the commit failed; kept in the outbox",
                self._user,
                seq,
                exc_info=True,
            )
        if meta.pending:
            await self._arm_outbox(meta, self._deps.settings.limits.republish_interval_s)
        await self._update_index(meta, budget)
        self._unsaved_published = (meta.conversation, meta.published_seq)
        if meta.model_dump() == {**committed, "published_seq": meta.published_seq}:
            # Only published_seq moved: no second transaction for it (``_meta``). The watchdog
            # reminder armed before the commit stays until a tick saves meta with nothing
            # pending, so the saved lag is closed within outbox_watchdog_s of the last turn.
            return
        try:
            async with asyncio.timeout(budget):
                await self._history.save_meta(meta)
                await self._state_manager.save_state()
        except Exception:
            log.warning(
                "user=%s seq=%d: saving the outbox state failed; it catches up later",
                self._user,
                seq,
                exc_info=True,
            )
            await self._state_manager.clear_cache()

    async def _update_index(self, meta: ChatMeta, budget: float) -> None:
        """List the conversation in the session index under its latest activity: only when
        that falls in another bucket than the one it is listed in (at most once per
        ``index_bucket_s``). The new bucket is recorded as soon as the conversation is in it,
        before the old one is left: a removal that fails leaves an orphan in the old bucket,
        which listings recognise by ``meta.indexed_bucket`` and repair (session_index.py).
        A failed add leaves ``meta.indexed_bucket`` as it was: the next turn tries again."""
        index = self._deps.sessions
        if index is None or index.bucket(meta.last_activity) == meta.indexed_bucket:
            return
        entry = IndexEntry(
            created_at=meta.created_at, last_activity=meta.last_activity, turns=meta.turns
        )
        try:
            async with asyncio.timeout(budget):
                old, meta.indexed_bucket = meta.indexed_bucket, await index.add(self._user, entry)
                if old != meta.indexed_bucket:
                    await index.remove(self._user, old)
        except Exception:
            log.warning("user=%s: the session index update failed", self._user, exc_info=True)

    async def _replay(self, meta: ChatMeta, key: str, message: ChatMessage) -> TurnReply | None:
        """The committed turn a repeated Idempotency-Key names, or None for a new key."""
        found = (await self._idempotency()).find(key)
        if found is None:
            return None
        if found.fingerprint != fingerprint(message):
            raise IdempotencyConflict(
                "this Idempotency-Key was used for a turn with another message"
            )
        log.info("user=%s seq=%d: repeated Idempotency-Key, nothing saved", self._user, found.seq)
        return await self._committed_reply(meta, found.seq)

    async def _committed_reply(self, meta: ChatMeta, seq: int) -> TurnReply:
        _user, reply = await self._history.turn(meta, seq)
        return TurnReply(role=reply.role, content=reply.content, seq=seq, replayed=True)

    async def _idempotency(self) -> IdempotencyLog:
        found, raw = await self._state_manager.try_get_state(IDEMPOTENCY_KEY)
        return IdempotencyLog.model_validate(raw) if found else IdempotencyLog()

    async def _remember(self, key: str, seq: int, message: ChatMessage) -> None:
        log_ = await self._idempotency()
        record = IdempotencyRecord(key=key, seq=seq, fingerprint=fingerprint(message))
        log_.remember(record, self._deps.settings.limits.idempotency_keys)
        await self._state_manager.set_state(IDEMPOTENCY_KEY, log_.model_dump())

    async def _on_deactivate(self) -> None:
        # Its pending events are still in its state: the reminder brings it back for them.
        metrics.OUTBOX.set(self._user, 0)

    @actor_method
    async def get_conversation_history(self, query: dict[str, Any]) -> dict[str, Any]:
        asked = HistoryQuery.model_validate(query)
        meta = await self._meta()
        limit = asked.limit or self._deps.settings.limits.history_view
        end = meta.entries if asked.before is None else max(0, min(asked.before, meta.entries))
        # The newest of them that fit in one answer through daprd; the caller pages on from
        # next_before for the rest (api/routes/chat.py).
        history = payload.newest_that_fit(
            await self._history.range(meta, max(0, end - limit), end), self._budget
        )
        start = end - len(history)
        return HistoryView(
            history=history,
            total=meta.entries,
            next_before=start if start > 0 else None,
            pending_events=len(meta.pending),
        ).model_dump()

    @actor_method
    async def get_summary(self) -> dict[str, Any]:
        meta = await self._meta()
        agent = meta.agent or (self._deps.profiles.default if meta.turns else None)
        if agent is None and meta.open_turn:
            # A first turn still open (a long turn, maybe waiting for an approval) has picked
            # the conversation's agent already: that one, not the default.
            open_turn = await self._open_turn(meta)
            agent = (open_turn.job.agent or None) if open_turn is not None else None
        return SessionSummary(
            turns=meta.turns,
            pending_events=len(meta.pending),
            created_at=meta.created_at or None,
            last_activity=meta.last_activity or None,
            agent=agent,
        ).model_dump()

    @actor_method
    async def export_entries(self, query: dict[str, Any]) -> dict[str, Any]:
        """Entries ``start .. start+limit`` with their seq and commit time (the export)."""
        asked = ExportQuery.model_validate(query)
        meta = await self._history.meta()
        start, end = min(asked.start, meta.entries), min(asked.start + asked.limit, meta.entries)
        out: list[ExportEntry] = []
        index = start
        while index < end:
            number, offset = divmod(index, meta.page_size)
            page = await self._history.page(number)
            stop = min(end - number * meta.page_size, len(page.entries))
            for i in range(offset, stop):
                entry = page.entries[i]
                at = page.at[i] if i < len(page.at) and page.at[i] else None
                out.append(
                    ExportEntry(
                        index=index,
                        seq=index // 2 + 1,
                        role=entry.role,
                        content=entry.content,
                        at=at,
                    )
                )
                index += 1
            if stop <= offset:
                break  # a page shorter than meta says: never expected, never loop
        # The first of them that fit in one answer through daprd: the export asks again from
        # where this page ends.
        out = payload.oldest_that_fit(out, self._budget)
        return ExportPage(entries=out, total=meta.entries).model_dump()

    @actor_method
    async def delete(self) -> dict[str, Any]:
        """Erase the conversation everywhere (idempotent). Under this actor's turn lock, so a
        turn runs wholly before or after it; this actor's keys go first, so a late event that
        reaches Memory afterwards finds no conversation (or another one) and is dropped."""
        await self._erase()
        return {"deleted": True}

    async def _erase(self) -> None:
        meta = await self._history.meta()
        self._unsaved_published = ("", 0)
        if self._deps.sessions is not None:
            # First: meta names the bucket, and a failure here (the delete fails, and is
            # retried) must not leave a listed conversation without its keys.
            await self._deps.sessions.remove(self._user, meta.indexed_bucket)
        # One page past the last committed entry too: nothing should be there, but a key
        # that outlived its meta would otherwise stay for ever.
        keys = [META_KEY, IDEMPOTENCY_KEY, TURN_KEY]
        keys += [page_key(n) for n in range(self._history.last_page(meta) + 2)]
        for key in keys:
            await self._state_manager.try_remove_state(key)
        await self._state_manager.save_state()
        # A long turn's run of this process stops; one elsewhere finds its turn gone (EndRun
        # drops its result: it cannot bring the conversation back).
        turn_runner.cancel(self._user)
        for name in (OUTBOX_REMINDER, LONG_TURN_REMINDER):
            await self._drop_reminder_of_deleted(name)
        if self._timer_armed:
            try:
                await self.unregister_timer(OUTBOX_TIMER)
                self._timer_armed = False
            except Exception as exc:
                log.info("user=%s: the outbox timer stays for now: %s", self._user, exc)
        metrics.OUTBOX.set(self._user, 0)
        await ResponseAgentClient(self._deps.proxies, self._user).delete()
        await MemoryAgentClient(self._deps.proxies, self._user).delete()
        # Dead letters are the user's too: kept outside the actors (dead_letters.py).
        await self._deps.dead_letters.forget(self._user)
        # Last: until everything above is gone, a retention erase that failed half-way (no
        # client retries it, as one retries a DELETE) fires again and finishes.
        await self._drop_reminder_of_deleted(RETENTION_REMINDER)
        log.info("user=%s: conversation deleted (%d turns)", self._user, meta.turns)

    async def _drop_reminder_of_deleted(self, name: str) -> None:
        try:
            await self.unregister_reminder(name)
        except Exception as exc:
            # If it fires, it finds no conversation and drops itself.
            log.info("user=%s: reminder %s stays for now: %s", self._user, name, exc)

    async def _arm_retention_first(self, meta: ChatMeta) -> None:
        """Arm retention before a turn's first write of any kind, not at its commit: a turn
        that fails still leaves its model calls' records (and a long turn its ``turn`` key and
        ``meta``), and a conversation whose every turn failed must be erased too. A failed
        turn saves no ``meta``, so the next one arms it again (which also moves the erasure to
        ``retention_s`` after the newest failed turn); once a ``meta`` saying armed is saved,
        no turn pays for it again."""
        retention = self._deps.settings.limits.retention_s
        if retention is not None and not meta.retention_armed:
            await self._arm_retention(meta, retention)

    async def _arm_retention(self, meta: ChatMeta, retention_s: float, due_s: float = 0) -> None:
        """The reminder that erases the conversation once idle for ``retention_s``; armed
        once (a scheduler write costs ~15 ms): when it fires early, it reads the latest
        activity and re-arms itself for the rest of the time."""
        due = timedelta(seconds=due_s or retention_s)
        breaker = self._deps.reminders
        try:
            # A turn tries before its reply and again at its commit: with the scheduler
            # down, it waits for it once, not twice (nor after the outbox just failed).
            if breaker.open:
                raise RuntimeError("the scheduler failed just now; not waiting on it again yet")
            async with asyncio.timeout(self._deps.settings.limits.post_commit_timeout_s):
                await self.register_reminder(
                    RETENTION_REMINDER, b"{}", due, timedelta(seconds=retention_s)
                )
        except Exception as exc:
            if not breaker.open:
                breaker.trip()
            # meta says unarmed: the next turn tries again.
            log.warning("user=%s: could not arm the retention reminder: %r", self._user, exc)
            meta.retention_armed = False
            return
        meta.retention_armed = True

    async def _retention_tick(self) -> None:
        retention = self._deps.settings.limits.retention_s
        if retention is None:
            await self.unregister_reminder(RETENTION_REMINDER)
            return
        try:
            meta = await self._meta()
            # No meta (turns 0) is a conversation whose turns all failed, or a delete that
            # failed half-way: idle since its latest long turn started (none: for ever).
            turn = await self._turn_record()
            latest = max(meta.last_activity, turn.created_at if turn is not None else 0.0)
            idle = self._deps.clock() - latest
            # A long turn still open (waiting for an approval, say) is activity.
            if idle >= retention and not meta.open_turn:
                log.info("user=%s: idle for %.0f s, past the retention: erased", self._user, idle)
                await self._erase()
                return
            await self._arm_retention(meta, retention, due_s=max(0.0, retention - idle))
            if not meta.retention_armed:
                # Saved so that the next turn registers it again.
                await self._history.save_meta(meta)
                await self._state_manager.save_state()
        except BaseException:
            await self._state_manager.clear_cache()
            raise  # the reminder fires again

    async def receive_reminder(
        self,
        name: str,
        state: bytes,
        due_time: timedelta,
        period: timedelta,
        ttl: timedelta | None = None,
    ) -> None:
        handlers = {
            OUTBOX_REMINDER: self._outbox_tick,
            RETENTION_REMINDER: self._retention_tick,
            LONG_TURN_REMINDER: self._long_turn_tick,
        }
        await reminders.fire(handlers, name)

    async def _outbox_tick(self) -> ChatMeta:
        """Publish what is pending; drop the reminder once nothing is."""
        try:
            meta = await self._meta()
            if not meta.turns:
                # The conversation was deleted: nothing to publish, nothing to save.
                await self._drop_reminder()
                return meta
            await self._publish_pending(meta, {})
            if meta.pending:
                await self._arm_outbox(meta, self._deps.settings.limits.republish_interval_s)
            else:
                meta.outbox_period_s = 0.0
            await self._history.save_meta(meta)
            await self._state_manager.save_state()
            # Only once meta says "no reminder" is it dropped: the other order could leave a
            # pending event with no reminder if the save failed. A failed unregister leaves a
            # reminder that finds nothing to do and tries again.
            metrics.OUTBOX.set(self._user, len(meta.pending))
            if not meta.pending:
                await self._drop_reminder()
        except BaseException:
            await self._state_manager.clear_cache()
            raise
        return meta

    async def _drop_reminder(self) -> None:
        try:
            await self.unregister_reminder(OUTBOX_REMINDER)
        except Exception as exc:
            # It fires again, finds nothing pending and tries again: harmless.
            log.info("user=%s: the outbox reminder stays for now: %s", self._user, exc)

    async def _on_outbox_timer(self, _state: Any) -> None:
        """The timer that covers for a reminder the scheduler would not take."""
        meta = await self._outbox_tick()
        fast = self._deps.settings.limits.republish_interval_s
        if not meta.pending or meta.outbox_period_s == fast:
            # Done, or the fast reminder is armed again: it takes over. (The slow watchdog
            # alone would leave the pending event waiting for up to its whole period.)
            await self.unregister_timer(OUTBOX_TIMER)
            self._timer_armed = False

    async def _cover_with_timer(self) -> None:
        """Timers live in daprd's memory, not in the scheduler: one keeps the outbox going
        while reminders cannot be registered, so a pending event does not wait for the
        user's next turn (it does not survive a crash; the next turn arms the reminder)."""
        if self._timer_armed:
            return
        period = timedelta(seconds=self._deps.settings.limits.republish_interval_s)
        try:
            await self.register_timer(OUTBOX_TIMER, self._on_outbox_timer, b"", period, period)
        except Exception:
            log.warning("user=%s: could not arm the outbox timer either", self._user, exc_info=True)
            return
        self._timer_armed = True

    async def _arm_outbox(self, meta: ChatMeta, period_s: float) -> None:
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
        try:
            if breaker.open:
                raise RuntimeError("the scheduler failed just now; not waiting on it again yet")
            # Its own short budget: a stopped scheduler must not hold a turn for the caller's
            # whole timeout.
            async with asyncio.timeout(self._deps.settings.limits.post_commit_timeout_s):
                await self.register_reminder(OUTBOX_REMINDER, b"{}", interval, interval)
        except Exception as exc:
            if not breaker.open:
                breaker.trip()
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

    async def _publish_pending(
        self, meta: ChatMeta, known: dict[int, tuple[ChatMessage, ChatMessage]]
    ) -> None:
        for seq in list(meta.pending)[:PUBLISH_BATCH]:
            pair = known.get(seq) or await self._history.turn(meta, seq)
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


def fingerprint(message: ChatMessage) -> str:
    return hashlib.sha256(message.model_dump_json().encode()).hexdigest()
