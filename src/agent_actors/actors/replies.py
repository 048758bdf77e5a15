"""What writing one reply needs around the responder: the agent profile, the memory window,
the history search, and the check that the reply can be stored.

ResponseAgent's turn uses it inside its actor call; a long turn's run (``turn_runner.py``)
outside any actor call, so both write a reply from the same inputs.
"""

from __future__ import annotations

import logging

from agent_actors.actors.delegation import Delegator, delegator
from agent_actors.actors.history_search import CommittedHistory
from agent_actors.actors.interfaces import ReplyJob
from agent_actors.actors.services import ActorDeps
from agent_actors.errors import ConversationMoved, ReplyTooLarge
from agent_actors.llm.profiles import offered_delegates
from agent_actors.llm.responder import CallRecorder, ReplyContext, ReplyRequest, StepSaver
from agent_actors.models import ChatMessage, as_unicode_text
from agent_actors.sidecar.actor_runtime import StateLoader
from agent_actors.store.committed import committed_history, committed_window

log = logging.getLogger(__name__)


class ReplyWork:
    def __init__(self, deps: ActorDeps, user: str, load: StateLoader) -> None:
        self._deps = deps
        self._user = user
        # daprd's actor state API: Memory's window as last committed, without an actor call,
        # and ChatAgent's committed pages (read-only), which the search_history tool reads.
        self._load = load
        self._committed = committed_history(load, user, deps.settings.limits.history_page_size)
        # Set by ``request`` when the job's agent may hand tasks on.
        self._delegate: Delegator | None = None

    async def request(self, job: ReplyJob, count: int) -> ReplyRequest:
        book = self._deps.profiles
        profile = book.resolve(job.agent)
        if profile.name != (job.agent or book.default):
            log.warning(
                "user=%s: agent %r is no longer in the agents file; %r answers",
                self._user,
                job.agent,
                profile.name,
            )
        memory = await self._memory(profile.memory_window)
        log.debug(
            "user=%s seq=%d: ResponseAgent read %d memory entries", self._user, job.seq, len(memory)
        )
        delegates = offered_delegates(book, profile, job.task.chain if job.task else [])
        if delegates:
            self._delegate = delegator(self._deps, self._user, profile, job.seq, job, delegates)
        return ReplyRequest(
            user_id=self._user,
            seq=job.seq,
            message=job.message,
            memory=tuple(memory),
            recent=(*await self._earlier(job), *job.recent),
            count=count,
            stream_id=job.stream_id,
            profile=profile,
            default_profile=profile.name == book.default,
            delegates=tuple(delegates),
            task_id=job.task.task_id if job.task else None,
            turn_key=f"{self._user}|{job.seq}|{job.request_id}" if job.request_id else None,
        )

    async def _earlier(self, job: ReplyJob) -> list[ChatMessage]:
        """The prompt history's entries that did not fit in the job (``ReplyJob``), from
        ChatAgent's committed pages: entries below its ``meta.entries`` never change."""
        if job.earlier_end <= job.earlier_start:
            return []
        meta = await self._committed.meta()
        if meta.entries < job.earlier_end:
            # Not the conversation the job was made from (deleted since, or a stale object).
            raise ConversationMoved(
                "this conversation changed while its turn started; retry the request"
            )
        return await self._committed.range(meta, job.earlier_start, job.earlier_end)

    async def _memory(self, window: int | None) -> list[ChatMessage]:
        """The memory window, or the newest ``window`` entries of it (the profile's)."""
        if window == 0:
            return []
        memory = await committed_window(self._load, self._user)
        return memory if window is None else memory[-window:]

    def context(
        self,
        calls: CallRecorder,
        turn_timeout_s: float | None = None,
        steps: StepSaver | None = None,
    ) -> ReplyContext:
        searcher = CommittedHistory(self._committed, self._deps.settings.llm.search_max_pages)
        return ReplyContext(
            calls=calls,
            search_history=searcher.search,
            turn_timeout_s=turn_timeout_s,
            delegate=self._delegate,
            steps=steps,
        )

    def storable(self, content: str) -> str:
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
