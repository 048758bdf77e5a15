"""A long turn's run keeps its progress through tool calls with ChatAgent (``SaveStep``).

The responder calls a ``RunSteps`` before each tool call of a long turn and after the last
(``llm/checkpoints.py`` says what is saved and what a run started again does with it). Each
save is a short actor call; it travels through daprd and stays in ChatAgent's ``turn`` record,
so it is sized to the actor payload budget: the turn's records are fitted as the call log
keeps them, and the step's tool results cut if they would still not fit.

A save that does not happen stops the run before the tool runs: a tool never runs without
its start on record. A refused save (the turn ended, or a newer run owns it) stops the run
for good; daprd failing is retried a few times first.
"""

from __future__ import annotations

import asyncio
import logging

from agent_actors.actors.interfaces import StepJob
from agent_actors.actors.proxies import ChatAgentClient
from agent_actors.actors.services import ActorDeps
from agent_actors.actors.turn_record import LongTurn
from agent_actors.errors import ActorUnavailable, ConversationMoved, TurnInterrupted
from agent_actors.llm.approvals import PausedReply
from agent_actors.llm.responder import CallBuffer
from agent_actors.models import CAPS, cut, fit_record
from agent_actors.store import payload

log = logging.getLogger(__name__)
SAVE_TRIES = 4
SAVE_BACKOFF_S = 0.25


class RunSteps:
    def __init__(self, deps: ActorDeps, user: str, turn: LongTurn, calls: CallBuffer) -> None:
        self._deps = deps
        self._user = user
        self._turn = turn
        # This run's model calls so far (the earlier runs' are the turn's records).
        self._calls = calls

    async def __call__(self, step: PausedReply) -> None:
        llm = self._deps.settings.llm
        share = llm.calls_page_bytes // llm.calls_page_size
        records = [fit_record(r, share) for r in (*self._turn.records, *self._calls.records)]
        job = StepJob(seq=self._turn.seq, run_id=self._turn.run_id, step=step, records=records)
        room = payload.budget(self._deps.settings.dapr) - payload.encoded_size(job)
        job.step = fit_step(step, payload.encoded_size(step) + room)
        if not await self._save(job):
            raise TurnInterrupted(
                "the turn no longer waits for this run (a newer run, a delete, or a failure): "
                "it stops before its next tool call"
            )

    async def _save(self, job: StepJob) -> bool:
        chat = ChatAgentClient(self._deps.proxies, self._user)
        delay = SAVE_BACKOFF_S
        for attempt in range(1, SAVE_TRIES + 1):
            try:
                return await chat.save_step(job)
            except (ActorUnavailable, ConversationMoved) as exc:
                if attempt == SAVE_TRIES:
                    raise
                log.info(
                    "user=%s seq=%d: saving the run's step failed (%s); trying again",
                    self._user,
                    job.seq,
                    exc.code,
                )
                await asyncio.sleep(delay)
                delay *= 2
        return False


def fit_step(step: PausedReply, max_bytes: int) -> PausedReply:
    """``step``, its tool results cut (shorter and shorter) until its payload is at most
    ``max_bytes``. Results come bounded by their tools (an MCP server's ``max_result_chars``),
    so only a turn of many large steps is cut; a run resumed from a cut step sends the model
    the cut text, which ends with an ellipsis."""
    if payload.encoded_size(step) <= max_bytes:
        return step
    step = step.model_copy(deep=True)
    for cap in CAPS:
        for call in step.calls:
            if call.result is not None:
                call.result = cut(call.result, cap)
        for message in step.messages:
            if message.get("role") == "tool" and isinstance(message.get("content"), str):
                message["content"] = cut(message["content"], cap)
        if payload.encoded_size(step) <= max_bytes:
            break
    return step
