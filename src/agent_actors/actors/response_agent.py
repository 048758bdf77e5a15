"""ResponseAgent (id = the user id): reads memory, asks the responder, counts replies."""

from __future__ import annotations

import logging
from typing import Any

from dapr.actor import Actor, ActorId
from dapr.actor.runtime.context import ActorRuntimeContext

from agent_actors import logs
from agent_actors.actors.interfaces import (
    CallsQuery,
    PausedJob,
    RecordJob,
    ReplyJob,
    ResponseAgentInterface,
)
from agent_actors.actors.replies import ReplyWork
from agent_actors.actors.services import ActorDeps
from agent_actors.llm import audit
from agent_actors.llm.approvals import ApprovalRequired
from agent_actors.llm.responder import CallBuffer
from agent_actors.models import CallRecord, ChatMessage
from agent_actors.sidecar.actor_runtime import saved_state_reader
from agent_actors.sidecar.boundary import actor_method
from agent_actors.sidecar.state_cache import cached_value, keep_bounded
from agent_actors.store import call_log, payload
from agent_actors.store.call_log import CallLog
from agent_actors.store.committed import committed_history
from agent_actors.store.state import CallLogMeta, ResponseStats

log = logging.getLogger(__name__)
STATS_KEY = "stats"


class ResponseAgent(Actor, ResponseAgentInterface):
    def __init__(self, ctx: ActorRuntimeContext, actor_id: ActorId, deps: ActorDeps) -> None:
        super().__init__(ctx, actor_id)
        self._bind(deps)

    def _bind(self, deps: ActorDeps) -> None:
        """Everything the actor derives from its deps (unit tests bind mock actors here)."""
        self._deps = deps
        self._user = self.id.id
        self._committed = committed_history(
            saved_state_reader(self),
            self._user,
            deps.settings.limits.history_page_size,
        )
        keep_bounded(self, self._cache_keep)

    def _cache_keep(self) -> set[str]:
        """The count and the call log's meta and current page: older pages of the log are
        read only by GET /chat/{id}/calls."""
        llm = self._deps.settings.llm
        keep = {STATS_KEY, call_log.META_KEY}
        meta = cached_value(self._state_manager, call_log.META_KEY)
        if isinstance(meta, dict):
            keep.add(CallLog.current_key(CallLogMeta.model_validate(meta), llm.calls_kept))
        return keep

    async def _stats(self) -> ResponseStats:
        found, raw = await self._state_manager.try_get_state(STATS_KEY)
        if found:
            return ResponseStats.model_validate(raw)
        # No count yet: a new conversation (0 turns), or one whose count was kept under the
        # tutorial's actor id (models.ActorTypes): one reply per committed turn.
        turns = (await self._committed.meta()).turns
        return ResponseStats(count=turns, last_seq=turns)

    @actor_method
    async def process_message(self, request: dict[str, Any]) -> dict[str, Any]:
        job = ReplyJob.model_validate(request)
        logs.bind(user=self._user, seq=job.seq)
        stats = counted(await self._stats(), job.seq)
        work = ReplyWork(self._deps, self._user, saved_state_reader(self))
        ask = await work.request(job, stats.count)
        calls = CallBuffer(audit.record_bytes(self._deps.settings.llm))
        log_ = self._call_log()
        try:
            content = work.storable(await self._deps.responder.reply(ask, work.context(calls)))
        except ApprovalRequired as stop:
            # Nothing saved here, not even the count: ChatAgent keeps the paused reply and
            # these records with the turn, which a run finishes outside this call.
            log.info("user=%s seq=%d: the reply waits for an approval", self._user, job.seq)
            return PausedJob(paused=stop.paused, records=calls.records).model_dump(mode="json")
        except Exception:
            # The turn fails (and @actor_method drops the staged state), but its model calls
            # happened: save their records on their own, then let the error through.
            await self._save_calls_alone(log_, calls.records, job.seq)
            raise
        if calls.records:
            await log_.append(calls.records)
        await self._state_manager.set_state(STATS_KEY, stats.model_dump())
        log.debug("user=%s seq=%d: ResponseAgent processed message", self._user, job.seq)
        return ChatMessage(role="assistant", content=content).model_dump()

    @actor_method
    async def record_reply(self, request: dict[str, Any]) -> dict[str, Any]:
        """A long turn's model calls and, when it committed, its reply's count: written once
        per run, so ChatAgent may retry this call."""
        job = RecordJob.model_validate(request)
        stats = await self._stats()
        if stats.last_run == job.run_id:
            return {"recorded": False}
        if job.replied:
            stats = counted(stats, job.seq)
        stats.last_run = job.run_id
        if job.records:
            await self._call_log().append(job.records)
        await self._state_manager.set_state(STATS_KEY, stats.model_dump())
        await self._state_manager.save_state()
        return {"recorded": True}

    def _call_log(self) -> CallLog:
        llm = self._deps.settings.llm
        return CallLog(
            self._state_manager,
            llm.calls_kept,
            llm.calls_page_size,
            llm.calls_page_bytes,
            payload.budget(self._deps.settings.dapr),
        )

    @actor_method
    async def get_message_count(self) -> int:
        return (await self._stats()).count

    @actor_method
    async def get_calls(self, query: dict[str, Any]) -> dict[str, Any]:
        asked = CallsQuery.model_validate(query)
        return await self._call_log().range(asked.limit, asked.before)

    @actor_method
    async def delete(self) -> dict[str, Any]:
        """Erase the count and every slot of the call log (idempotent)."""
        kept = self._deps.settings.llm.calls_kept
        keys = [STATS_KEY]
        found, raw = await self._state_manager.try_get_state(call_log.META_KEY)
        if found:
            meta = CallLogMeta.model_validate(raw)
            keys += [call_log.META_KEY]
            keys += [call_log.slot_key(n) for n in range(call_log.slots(meta, kept))]
        for key in keys:
            await self._state_manager.try_remove_state(key)
        await self._state_manager.save_state()
        return {"deleted": True}

    async def _save_calls_alone(self, log_: CallLog, records: list[CallRecord], seq: int) -> None:
        if not records:
            return
        try:
            await self._state_manager.clear_cache()
            await log_.append(records)
            await self._state_manager.save_state()
        except Exception:
            log.warning(
                "user=%s seq=%d: could not save the failed turn's call records",
                self._user,
                seq,
                exc_info=True,
            )


def counted(stats: ResponseStats, seq: int) -> ResponseStats:
    """The count with the reply to ``seq``, once per seq: a seq already answered is ChatAgent
    retrying a turn it could not commit. A first turn over a count that went further is a new
    conversation whose DELETE failed half-way (ChatAgent's keys gone, this count left): it
    starts again, or the new conversation's count would stand still until it passed the old."""
    if seq == 1 and stats.last_seq > 1:
        stats = ResponseStats(last_run=stats.last_run)
    if seq > stats.last_seq:
        return stats.model_copy(update={"count": stats.count + 1, "last_seq": seq})
    return stats
