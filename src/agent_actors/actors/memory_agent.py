"""MemoryAgentActor (id = the user id): the last turns of the conversation, fed by events.

Each turn is reflected exactly once and in seq order, and none is ever skipped: a seq at or
below ``last_seq`` is a duplicate; ``last_seq + 1`` is applied from the event; a seq further
ahead means events were lost or are late (dead-lettered, reordered), and the turns up to it
are read from ChatAgent's committed history instead (``committed.py``), then a late event is
a duplicate. Only the entries that can still be in the window are read, so a gap of any size
costs at most ``memory_window`` entries (one or two pages).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from dapr.actor import Actor, ActorId, Remindable
from dapr.actor.runtime.context import ActorRuntimeContext

from agent_actors import logs, metrics
from agent_actors.actors.interfaces import (
    CatchUpQuery,
    MemoryAgentInterface,
    MemoryUpdate,
    MemoryView,
)
from agent_actors.actors.services import ActorDeps
from agent_actors.errors import HistoryBehind
from agent_actors.events.conversation_updated import ConversationUpdated
from agent_actors.models import ChatMessage
from agent_actors.sidecar import reminders
from agent_actors.sidecar.actor_runtime import saved_state_reader
from agent_actors.sidecar.boundary import actor_method
from agent_actors.store.committed import committed_history
from agent_actors.store.history import HistoryStore
from agent_actors.store.state import MEMORY_KEY, ChatMeta, MemoryState

log = logging.getLogger(__name__)
CATCH_UP_REMINDER = "catch-up"


# Remindable is named as a direct base: the SDK only fires reminders of a class that has it
# in __bases__ (ActorTypeInformation.is_remindable).
class MemoryAgentActor(Actor, MemoryAgentInterface, Remindable):
    def __init__(self, ctx: ActorRuntimeContext, actor_id: ActorId, deps: ActorDeps) -> None:
        super().__init__(ctx, actor_id)
        self._bind(deps)

    def _bind(self, deps: ActorDeps) -> None:
        """Everything the actor derives from its deps (unit tests bind mock actors here)."""
        self._deps = deps
        self._user = self.id.id
        self._window = deps.settings.limits.memory_window
        self._history = committed_history(
            saved_state_reader(self),
            self._user,
            deps.settings.limits.history_page_size,
        )

    async def _load(self) -> MemoryState:
        found, raw = await self._state_manager.try_get_state(MEMORY_KEY)
        return MemoryState.model_validate(raw) if found else MemoryState()

    async def _save(self, state: MemoryState) -> None:
        # Saved here, inside @actor_method: a failed save clears the SDK's cache, so a retry
        # of this event is not mistaken for a duplicate of what was never stored.
        await self._state_manager.set_state(MEMORY_KEY, state.model_dump())
        await self._state_manager.save_state()

    @actor_method
    async def get_memory(self) -> list[dict[str, Any]]:
        # GET /memory/{id}. ResponseAgent reads the same committed window through the state
        # API instead (committed.committed_window): no actor call, no turn lock.
        return dump((await self._load()).window)

    @actor_method
    async def update_memory(self, event: dict[str, Any]) -> dict[str, Any]:
        update = ConversationUpdated.model_validate(event)
        logs.bind(user=self._user, seq=update.seq)
        state = await self._load()
        meta: ChatMeta | None = None
        if state.last_seq == 0 or update.conversation != state.conversation:
            # The first event of a conversation, or one of another: only the committed meta
            # says which conversation is current (one read, not one per event).
            meta = await self._history.meta()
            if meta.conversation != update.conversation:
                # A late event of a deleted (or replaced) conversation: never resurrected.
                # (An event without id, from before ids, is judged by its seq as it was.)
                log.info(
                    "user=%s seq=%d: event of a conversation that no longer exists, dropped",
                    self._user,
                    update.seq,
                )
                return MemoryUpdate(status="stale", applied=0, last_seq=state.last_seq).model_dump()
            if state.conversation != meta.conversation:
                state = MemoryState(conversation=meta.conversation)
        first = state.last_seq + 1
        metrics.MEMORY_SEQ_LAG.set(max(0, update.seq - first))
        if update.seq < first:
            status = "duplicate"
        elif update.seq == first:
            push(state.window, [update.input, update.output], self._window)
            state.last_seq, status = update.seq, "applied"
        else:
            meta = await self._committed(update.seq, meta)
            await fill_from_history(state, self._history, meta, update.seq, self._window)
            status = "repaired"
            log.warning(
                "user=%s seq=%d: seqs %d..%d had not arrived; read them from the history",
                self._user,
                update.seq,
                first,
                update.seq - 1,
            )
        if status != "duplicate":
            await self._save(state)
            metrics.MEMORY_LAG_SECONDS.observe(seconds_since(update.timestamp))
        log.info(
            "user=%s seq=%d: memory %s (last_seq %d)",
            self._user,
            update.seq,
            status,
            state.last_seq,
        )
        applied = max(0, state.last_seq - first + 1)
        return MemoryUpdate(status=status, applied=applied, last_seq=state.last_seq).model_dump()

    @actor_method
    async def catch_up(self, query: dict[str, Any]) -> dict[str, Any]:
        """Apply the committed turns after ``last_seq``, up to ``up_to`` (default: all)."""
        return (await self._catch_up(CatchUpQuery.model_validate(query).up_to)).model_dump()

    async def _catch_up(self, up_to: int | None) -> MemoryView:
        state = await self._load()
        meta = await self._history.meta()
        if state.conversation != meta.conversation:
            state = MemoryState(conversation=meta.conversation)
        target = meta.turns if up_to is None else min(up_to, meta.turns)
        before = state.last_seq
        if target > before:
            await fill_from_history(state, self._history, meta, target, self._window)
            await self._save(state)
            log.info(
                "user=%s: memory caught up %d..%d from the history", self._user, before + 1, target
            )
        return view(state, applied=state.last_seq - before, turns=meta.turns)

    @actor_method
    async def schedule_catch_up(self) -> dict[str, Any]:
        """Catch up from the history by itself, soon and until done (after a dead letter):
        without it, memory would wait for the user's next turn, a replay or a rebuild."""
        period = timedelta(seconds=self._deps.settings.limits.republish_interval_s)
        await self.register_reminder(CATCH_UP_REMINDER, b"{}", period, period)
        return {"scheduled": True}

    async def receive_reminder(
        self,
        name: str,
        state: bytes,
        due_time: timedelta,
        period: timedelta,
        ttl: timedelta | None = None,
    ) -> None:
        await reminders.fire({CATCH_UP_REMINDER: self._on_catch_up_reminder}, name)

    async def _on_catch_up_reminder(self) -> None:
        try:
            caught_up = await self._catch_up(None)
        except BaseException:
            await self._state_manager.clear_cache()
            raise  # the reminder stays and fires again
        if caught_up.last_seq >= caught_up.turns:
            await self.unregister_reminder(CATCH_UP_REMINDER)

    @actor_method
    async def rebuild(self) -> dict[str, Any]:
        """The window again from the committed history: its last entries, ``last_seq = turns``."""
        meta = await self._history.meta()
        state = MemoryState(
            window=await self._history.tail(meta, self._window), conversation=meta.conversation
        )
        state.last_seq = meta.turns
        if meta.turns:
            await self._save(state)
        else:
            # No conversation (deleted, or none yet): nothing to keep, so a rebuild racing a
            # delete leaves no key behind.
            await self._state_manager.try_remove_state(MEMORY_KEY)
            await self._state_manager.save_state()
        log.info("user=%s: memory rebuilt from the history (last_seq %d)", self._user, meta.turns)
        return view(state, applied=0, turns=meta.turns).model_dump()

    @actor_method
    async def get_status(self) -> dict[str, Any]:
        state, meta = await self._load(), await self._history.meta()
        return view(state, applied=0, turns=meta.turns).model_dump()

    @actor_method
    async def delete(self) -> dict[str, Any]:
        """Erase the window (idempotent); ChatAgent's state is gone first, so an event that
        arrives later finds no conversation and is dropped (``update_memory``)."""
        await self._state_manager.try_remove_state(MEMORY_KEY)
        await self._state_manager.save_state()
        try:
            await self.unregister_reminder(CATCH_UP_REMINDER)
        except Exception as exc:
            # If it fires, it finds nothing to catch up and drops itself.
            log.info("user=%s: the catch-up reminder stays for now: %s", self._user, exc)
        return {"deleted": True}

    async def _committed(self, seq: int, meta: ChatMeta | None) -> ChatMeta:
        if meta is None or meta.turns < seq:
            meta = await self._history.meta()
        if meta.turns < seq:
            # Never from ChatAgent (it publishes after its commit): applying it would skip
            # the turns in between, so pub/sub retries it and then dead-letters it.
            raise HistoryBehind(
                f"event seq {seq} is ahead of the committed history ({meta.turns} turns)"
            )
        return meta


async def fill_from_history(
    state: MemoryState, history: HistoryStore, meta: ChatMeta, target: int, window: int
) -> None:
    """Apply turns ``last_seq + 1 .. target`` (committed) from ``history`` to ``state``.

    Reads only the last ``window`` entries up to ``target`` that follow ``last_seq``: O(window),
    not O(gap). The window stays the last entries of turns 1..target, as if every event had come.
    """
    start = max(2 * state.last_seq, 2 * target - window)
    if start > 2 * state.last_seq:
        state.window.clear()  # all of it older than what the new window keeps
    push(state.window, await history.range(meta, start, 2 * target), window)
    state.last_seq = target


def seconds_since(moment: datetime) -> float:
    """Seconds from ``moment`` (naive: UTC) to now; never negative (clocks of two hosts)."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return max(0.0, (datetime.now(UTC) - aware).total_seconds())


def push(window: list[ChatMessage], entries: list[ChatMessage], size: int) -> None:
    window.extend(entries)
    del window[: max(0, len(window) - size)]


def view(state: MemoryState, *, applied: int, turns: int) -> MemoryView:
    return MemoryView(memory=state.window, last_seq=state.last_seq, turns=turns, applied=applied)


def dump(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    return [m.model_dump() for m in messages]
