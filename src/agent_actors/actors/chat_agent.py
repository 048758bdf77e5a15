"""ChatAgent (id = user id): owns the conversation, commits each turn, publishes its event.

One turn: ResponseAgent answers; the user message, the reply and the new ``meta`` are saved in
one actor-state transaction; then ConversationUpdated is published. The actor's methods are
that turn and the reads of the conversation; what goes around them is held, not inherited:

    Conversation     meta as this object knows it, the long turn's record   conversation.py
    Outbox           the turn's event published, now or by reminder/timer   outbox.py
    Retention        an idle conversation erased                             retention.py
    Erasure          a conversation erased everywhere (DELETE, retention)    erasure.py
    KnownTurns       a request seen before gets its turn, not a second one  idempotency.py
    ReplyJobs        what a new turn's reply is written from                 reply_job.py
    SessionListing   the conversation's entry in the session index           session_listing.py
    LongTurns        a reply written outside any actor call, approvals       long_turns.py

A long turn's reply is committed here too, through the same ``_commit_turn``.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any, Protocol

from dapr.actor import Actor, ActorId, Remindable
from dapr.actor.runtime.context import ActorRuntimeContext

from agent_actors import metrics
from agent_actors.actors.conversation import Conversation
from agent_actors.actors.erasure import Erasure
from agent_actors.actors.export import export_page
from agent_actors.actors.idempotency import IDEMPOTENCY_KEY, IdempotencyKeys, KnownTurns
from agent_actors.actors.interfaces import (
    ApprovalAnswer,
    ChatAgentInterface,
    ExportQuery,
    HistoryQuery,
    HistoryView,
    PausedJob,
    ReplyJob,
    RunOutcome,
    SessionSummary,
    StepJob,
    TurnQuery,
    TurnReply,
    TurnRequest,
    TurnView,
)
from agent_actors.actors.long_turns import LongTurns
from agent_actors.actors.outbox import OUTBOX_REMINDER, Outbox
from agent_actors.actors.proxies import ResponseAgentClient
from agent_actors.actors.reply_job import ReplyJobs
from agent_actors.actors.retention import RETENTION_REMINDER, Retention
from agent_actors.actors.services import ActorDeps
from agent_actors.actors.session_listing import SessionListing
from agent_actors.actors.turn_record import LONG_TURN_REMINDER, TURN_KEY
from agent_actors.errors import (
    InvalidInput,
)
from agent_actors.models import ChatMessage, is_unicode_text
from agent_actors.sidecar import reminders
from agent_actors.sidecar.actor_runtime import saved_state_reader
from agent_actors.sidecar.boundary import actor_method
from agent_actors.sidecar.state_cache import cached_value, keep_bounded
from agent_actors.store import payload
from agent_actors.store.committed import committed_history
from agent_actors.store.history import META_KEY, HistoryStore
from agent_actors.store.state import ChatMeta, page_key

log = logging.getLogger(__name__)


class TurnOrigin(Protocol):
    """What a turn's commit remembers of its request, so that a retry finds the turn: the
    request's id (daprd delivering it twice) and its ``Idempotency-Key``. A ``TurnRequest``
    has them, and a ``LongTurn`` keeps them."""

    @property
    def request_id(self) -> str | None: ...

    @property
    def idempotency_key(self) -> str | None: ...


# Remindable is named as a direct base: the SDK only fires reminders of a class that has it
# in __bases__ (ActorTypeInformation.is_remindable).
class ChatAgent(Actor, ChatAgentInterface, Remindable):
    def __init__(self, ctx: ActorRuntimeContext, actor_id: ActorId, deps: ActorDeps) -> None:
        super().__init__(ctx, actor_id)
        self._bind(deps)

    def _bind(self, deps: ActorDeps) -> None:
        """Everything the actor derives from its deps (unit tests bind mock actors here)."""
        self._deps = deps
        self._user = self.id.id
        limits = deps.settings.limits
        self._history = HistoryStore(self._state_manager, limits.history_page_size)
        # Bytes of entries one actor payload may carry (daprd's max body size).
        self._budget = payload.budget(deps.settings.dapr)
        # This actor's committed state as the store has it (not the SDK's cache), and the
        # reader of other actors' saved state (a long turn's run reads Memory's window).
        load = saved_state_reader(self)
        committed = committed_history(load, self._user, limits.history_page_size)
        self._conversation = Conversation(self._state_manager, self._history, committed, self._user)
        self._outbox = Outbox(self, deps, self._conversation, self._on_outbox_timer)
        self._listing = SessionListing(deps.sessions, self._user)
        self._idempotency = IdempotencyKeys(
            self._state_manager, limits.idempotency_keys, self._user
        )
        self._known = KnownTurns(self._conversation, self._idempotency, self._user)
        self._jobs = ReplyJobs(deps, self._history, self._user, self._budget)
        self._retention = Retention(self, deps, self._conversation)
        self._erasure = Erasure(self, deps, self._conversation, self._outbox, self._listing)
        self._long = LongTurns(self, deps, self._conversation, load)
        keep_bounded(self, self._cache_keep)

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

    # -- a turn ------------------------------------------------------------------------------

    @actor_method
    async def process_message(self, user_input: dict[str, Any]) -> dict[str, Any]:
        admitted = await self._admit(user_input, streamed=True)
        if isinstance(admitted, TurnReply):
            return admitted.model_dump()
        meta, request, job = admitted
        seq = job.seq
        log.debug("turn user=%s seq=%d: delegating to ResponseAgent", self._user, seq)
        reply = await ResponseAgentClient(self._deps.proxies, self._user).process_message(job)
        if isinstance(reply, PausedJob):
            return (await self._long.pause(meta, request, job, reply)).model_dump()
        await self._conversation.check_not_moved_on(meta)
        await self._commit_turn(meta, job, reply, request)
        return TurnReply(role=reply.role, content=reply.content, seq=seq).model_dump()

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
        await self._retention.ensure_armed(meta, at_commit=True)
        if origin.idempotency_key:
            await self._idempotency.remember(origin.idempotency_key, seq, message)
        if not meta.outbox_period_s:
            await self._outbox.arm(meta, limits.outbox_watchdog_s)
        await self._history.save_meta(meta)
        # The turn is durable from here on (history and pending event in one transaction).
        await self._state_manager.save_state()
        # The one INFO line of a turn (every hop also logs one at DEBUG: at INFO they cost
        # ~4 % of the app's CPU under load).
        log.info("turn user=%s seq=%d: committed", self._user, seq)
        await self._after_commit(meta, seq, (message, reply))
        metrics.OUTBOX.set(self._user, len(meta.pending))

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
                await self._outbox.publish(meta, {seq: pair})
        except Exception:
            log.warning(
                "user=%s seq=%d: publishing after the commit failed; kept in the outbox",
                self._user,
                seq,
                exc_info=True,
            )
        if meta.pending:
            await self._outbox.arm(meta, self._deps.settings.limits.republish_interval_s)
        await self._listing.update(meta, budget)
        self._conversation.published(meta)
        if meta.model_dump() == {**committed, "published_seq": meta.published_seq}:
            # Only published_seq moved: no second transaction for it (Conversation.meta). The
            # watchdog reminder armed before the commit stays until a tick saves meta with
            # nothing pending, so the saved lag is closed within outbox_watchdog_s of the last
            # turn.
            return
        try:
            async with asyncio.timeout(budget):
                await self._conversation.save(meta)
        except Exception:
            log.warning(
                "user=%s seq=%d: saving the outbox state failed; it catches up later",
                self._user,
                seq,
                exc_info=True,
            )
            await self._state_manager.clear_cache()

    # -- a long turn (long_turns.py) ---------------------------------------------------------

    @actor_method
    async def start_turn(self, user_input: dict[str, Any]) -> dict[str, Any]:
        admitted = await self._admit(user_input, streamed=False)
        if isinstance(admitted, TurnReply):
            if admitted.turn is None:
                done = ChatMessage(role=admitted.role, content=admitted.content)
                admitted.turn = TurnView(seq=admitted.seq, status="done", response=done)
            return admitted.model_dump()
        meta, request, job = admitted
        return (await self._long.start(meta, request, job)).model_dump()

    async def _admit(
        self, user_input: dict[str, Any], *, streamed: bool
    ) -> TurnReply | tuple[ChatMeta, TurnRequest, ReplyJob]:
        """A turn's request, checked: the turn it already is (a retry, a second delivery), or
        a new one's meta, request and reply job (``streamed``: with its stream id; a long turn
        has none), with retention armed before anything of it is written (a failed reply
        still saves its model calls' records)."""
        request = TurnRequest.model_validate(user_input)
        message = checked_message(request)
        meta = await self._conversation.meta()
        known = await self._known.of(meta, request, message)
        if known is not None:
            return known
        stream_id = request.stream_id if streamed else None
        job = await self._jobs.next(meta, request, message, stream_id)
        await self._retention.ensure_armed(meta)
        return meta, request, job

    @actor_method
    async def get_turn(self, query: dict[str, Any]) -> dict[str, Any]:
        seq = TurnQuery.model_validate(query).seq
        meta = await self._conversation.meta()
        if 1 <= seq <= meta.turns:
            _user, reply = await self._history.turn(meta, seq)
            return TurnView(seq=seq, status="done", response=reply).model_dump()
        return (await self._long.view(meta, seq)).model_dump()

    @actor_method
    async def decide_approval(self, answer: dict[str, Any]) -> dict[str, Any]:
        asked = ApprovalAnswer.model_validate(answer)
        meta = await self._conversation.meta()
        return (await self._long.decide(meta, asked)).model_dump()

    @actor_method
    async def end_run(self, outcome: dict[str, Any]) -> dict[str, Any]:
        """A long turn's run reports: committed only if the turn still waits for that run."""
        got = RunOutcome.model_validate(outcome)
        meta = await self._conversation.meta()
        turn = await self._long.ended_by(meta, got)
        if turn is None:
            return {"ended": False}
        if got.reply is None:
            await self._long.stop(meta, turn, got)
        else:
            await self._long.close(meta, turn, got)
            await self._commit_turn(meta, turn.job, got.reply, turn)
            await self._long.disarm()
        self._deps.runs.changed(self._user)
        return {"ended": True}

    @actor_method
    async def save_step(self, job: dict[str, Any]) -> dict[str, Any]:
        """A long turn's run keeps its progress through tool calls: only while the turn
        still waits for that run."""
        got = StepJob.model_validate(job)
        meta = await self._conversation.meta()
        return {"saved": await self._long.save_step(meta, got)}

    # -- reads, erasure, reminders -----------------------------------------------------------

    @actor_method
    async def get_conversation_history(self, query: dict[str, Any]) -> dict[str, Any]:
        asked = HistoryQuery.model_validate(query)
        meta = await self._conversation.meta()
        limit = asked.limit or self._deps.settings.limits.history_view
        end = meta.entries if asked.before is None else max(0, min(asked.before, meta.entries))
        # The newest of them that fit in one answer through daprd; the caller pages on from
        # next_before for the rest (api/routes/chat.py).
        history = await self._history.newest_within(meta, max(0, end - limit), end, self._budget)
        start = end - len(history)
        return HistoryView(
            history=history,
            total=meta.entries,
            next_before=start if start > 0 else None,
            pending_events=len(meta.pending),
        ).model_dump()

    @actor_method
    async def get_summary(self) -> dict[str, Any]:
        meta = await self._conversation.meta()
        agent = meta.agent or (self._deps.profiles.default if meta.turns else None)
        if agent is None and meta.open_turn:
            # A first turn still open (a long turn, maybe waiting for an approval) has picked
            # the conversation's agent already: that one, not the default.
            open_turn = await self._conversation.open_turn(meta)
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
        return (await export_page(self._history, asked, self._budget)).model_dump()

    @actor_method
    async def delete(self) -> dict[str, Any]:
        """Erase the conversation everywhere (idempotent; erasure.py)."""
        await self._erasure.erase()
        return {"deleted": True}

    async def receive_reminder(
        self,
        name: str,
        state: bytes,
        due_time: timedelta,
        period: timedelta,
        ttl: timedelta | None = None,
    ) -> None:
        handlers = {
            OUTBOX_REMINDER: self._outbox.tick,
            RETENTION_REMINDER: self._on_retention,
            LONG_TURN_REMINDER: self._long.tick,
        }
        await reminders.fire(handlers, name)

    async def _on_retention(self) -> None:
        await self._retention.tick(self._erasure.erase)

    async def _on_outbox_timer(self, _state: Any) -> None:
        # The SDK fires a timer by its callback's name on the actor: this name is the timer's.
        await self._outbox.on_timer()

    async def _on_deactivate(self) -> None:
        # Its pending events are still in its state: the reminder brings it back for them.
        metrics.OUTBOX.set(self._user, 0)


def checked_message(request: TurnRequest) -> ChatMessage:
    message = ChatMessage(role=request.role, content=request.content)
    if message.role != "user":
        raise InvalidInput("a chat turn starts with a message whose role is 'user'")
    if not is_unicode_text(message.content):
        raise InvalidInput("content is not valid Unicode text (a lone surrogate)")
    return message
