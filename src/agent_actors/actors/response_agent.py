"""ResponseAgent (id ``response-<user>``): reads memory, asks the responder, counts replies."""

from __future__ import annotations

import logging
from typing import Any

from dapr.actor import Actor, ActorId
from dapr.actor.runtime.context import ActorRuntimeContext

from agent_actors import logs
from agent_actors.actors import call_log, naming
from agent_actors.actors.boundary import actor_method
from agent_actors.actors.cache import BoundedStateCache, cached_value
from agent_actors.actors.call_log import CallLog
from agent_actors.actors.committed import committed_history, committed_window
from agent_actors.actors.deps import ActorDeps
from agent_actors.actors.history_search import CommittedHistory
from agent_actors.actors.interfaces import CallsQuery, ReplyJob, ResponseAgentInterface
from agent_actors.actors.state import CallLogMeta, ResponseStats
from agent_actors.errors import ReplyTooLarge
from agent_actors.llm.responder import CallBuffer, ReplyContext, ReplyRequest
from agent_actors.models import CallRecord, ChatMessage, as_unicode_text

log = logging.getLogger(__name__)
STATS_KEY = "stats"


class ResponseAgent(BoundedStateCache, Actor, ResponseAgentInterface):
    def __init__(self, ctx: ActorRuntimeContext, actor_id: ActorId, deps: ActorDeps) -> None:
        super().__init__(ctx, actor_id)
        self._bind(deps)

    def _bind(self, deps: ActorDeps) -> None:
        """Everything the actor derives from its deps (unit tests bind mock actors here)."""
        self._deps = deps
        self._user = naming.user_of(self.id.id, "response")
        self._committed = committed_history(
            self._runtime_ctx.state_provider.try_load_state,
            self._user,
            deps.settings.limits.history_page_size,
        )

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
        return ResponseStats.model_validate(raw) if found else ResponseStats()

    @actor_method
    async def process_message(self, request: dict[str, Any]) -> dict[str, Any]:
        job = ReplyJob.model_validate(request)
        logs.bind(user=self._user, seq=job.seq)
        stats = await self._stats()
        # A seq already answered is ChatAgent retrying a turn it could not commit: answer
        # again, count once.
        if job.seq > stats.last_seq:
            stats = ResponseStats(count=stats.count + 1, last_seq=job.seq)
        memory = await committed_window(self._runtime_ctx.state_provider.try_load_state, self._user)
        log.debug(
            "user=%s seq=%d: ResponseAgent read %d memory entries", self._user, job.seq, len(memory)
        )
        llm = self._deps.settings.llm
        ask = ReplyRequest(
            user_id=self._user,
            seq=job.seq,
            message=job.message,
            memory=tuple(memory),
            recent=tuple(job.recent),
            count=stats.count,
            stream_id=job.stream_id,
        )
        calls = CallBuffer()
        searcher = CommittedHistory(self._committed, llm.search_max_pages)
        context = ReplyContext(calls=calls, search_history=searcher.search)
        log_ = CallLog(self._state_manager, llm.calls_kept, llm.calls_page_size)
        try:
            content = self._storable(await self._deps.responder.reply(ask, context))
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

    def _storable(self, content: str) -> str:
        """The reply as it may be saved: valid Unicode, and small enough that its history
        page, event and actor call stay far below daprd's 4 MB request limit."""
        limit = self._deps.settings.limits.max_reply_chars
        if len(content) > limit:
            raise ReplyTooLarge(
                f"the model's reply has {len(content)} characters; the limit is {limit}"
            )
        # A model's JSON may carry a lone surrogate ("\\ud800"): saved, it would fail every
        # later read of the conversation.
        return as_unicode_text(content)

    @actor_method
    async def get_message_count(self) -> int:
        return (await self._stats()).count

    @actor_method
    async def get_calls(self, query: dict[str, Any]) -> dict[str, Any]:
        asked = CallsQuery.model_validate(query)
        llm = self._deps.settings.llm
        log_ = CallLog(self._state_manager, llm.calls_kept, llm.calls_page_size)
        return await log_.range(asked.limit, asked.before)

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
