"""A long turn's reply, written in the app's event loop outside any actor call.

ChatAgent starts a run once the turn's state is saved (``StartTurn``, an approval, or its
reminder denying one past its deadline) and returns at once: no actor's lock is held while the
model works, so reads of the conversation go on, and the run may last longer than an actor
call may (``limits.long_turn_timeout_s``, not ``dapr.actor_call_timeout_s``). The run asks
ResponseAgent and Memory for what the reply needs (short calls), runs the responder, and
reports through ``ChatAgent.EndRun``, which commits only while the turn still waits for this
very run (its ``run_id``): a late, repeated or superseded result commits nothing.

Before each tool call the run saves how far it got (``SaveStep``, ``run_steps.py``): a run
started again after a lost one goes on from there, and no tool call whose result was saved
runs again (``llm/checkpoints.py``).

Runs are known per process (``runs.py``, held in ``ActorDeps.runs``): ChatAgent's reminder
fails a turn whose run is not in this process any more (the app crashed and restarted, or the
actor moved to another replica), so a turn never stays pending for ever; a run is never
started twice for one result.

A run streams into the turn's log (a ``WATCH`` stream id; only when the log is kept), so a
client may follow it on ``GET /chat/{id}/turns/{seq}/stream`` instead of polling.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

from agent_actors import logs
from agent_actors.actors.interfaces import RunOutcome, TurnError
from agent_actors.actors.proxies import ChatAgentClient, ResponseAgentClient
from agent_actors.actors.replies import ReplyWork
from agent_actors.actors.run_steps import RunSteps
from agent_actors.actors.runs import Run
from agent_actors.actors.services import ActorDeps
from agent_actors.actors.turn_record import LongTurn
from agent_actors.errors import ActorUnavailable, AgentActorsError, ConversationMoved
from agent_actors.llm import audit
from agent_actors.llm.approvals import ApprovalRequired, Resumable, Resumption
from agent_actors.llm.responder import CallBuffer, ReplyContext, ReplyRequest
from agent_actors.models import ChatMessage
from agent_actors.sidecar.actor_runtime import StateLoader
from agent_actors.streams.hub import WATCH

log = logging.getLogger(__name__)
# Reporting a finished run: tries and the first pause between them (doubling). Past them the
# run gives up, and the reminder fails the turn (nothing was committed).
REPORT_TRIES = 6
REPORT_BACKOFF_S = 0.5


def start(deps: ActorDeps, user: str, load: StateLoader, turn: LongTurn) -> None:
    """Run ``turn``'s reply in the background (its state, with ``run_id``, is saved)."""
    task = asyncio.create_task(_run(deps, user, load, turn), name=f"long-turn {user} {turn.seq}")
    deps.runs.add(user, Run(turn.seq, turn.run_id, task))


async def _run(deps: ActorDeps, user: str, load: StateLoader, turn: LongTurn) -> None:
    logs.bind(user=user, seq=turn.seq)
    log.info("user=%s seq=%d: long turn run %s started", user, turn.seq, turn.run_id)
    outcome = await _reply(deps, user, load, turn)
    await _report(deps, user, outcome)


async def _reply(deps: ActorDeps, user: str, load: StateLoader, turn: LongTurn) -> RunOutcome:
    """The run's result: a reply, a pause for an approval, or an error; never raises (but
    for a cancellation)."""
    budget = deps.settings.limits.long_turn_timeout_s
    # Its records say which run made them: one started again after a crash says so.
    calls = CallBuffer(audit.record_bytes(deps.settings.llm), resumed=turn.resumed)
    outcome = RunOutcome(seq=turn.seq, run_id=turn.run_id)
    work = ReplyWork(deps, user, load)
    try:
        async with asyncio.timeout(budget):
            count = await ResponseAgentClient(deps.proxies, user).message_count()
            # Its events go to the turn's log (when kept), where a client may watch them.
            request = replace(
                await work.request(turn.job, count + 1), stream_id=WATCH + turn.run_id
            )
            steps = RunSteps(deps, user, turn, calls)
            context = work.context(calls, turn_timeout_s=budget, steps=steps)
            if turn.paused is not None:
                content = await _resume(deps, request, context, turn)
            else:
                content = await deps.responder.reply(request, context)
            outcome.reply = ChatMessage(role="assistant", content=work.storable(content))
    except ApprovalRequired as stop:
        outcome.paused = stop.paused
    except TimeoutError:
        outcome.error = TurnError(
            code="responder_timeout",
            detail=f"the long turn did not finish within {budget:g} s",
        )
    except AgentActorsError as exc:
        outcome.error = TurnError(code=exc.code, detail=exc.message)
    except Exception as exc:
        log.exception("user=%s seq=%d: the long turn failed", user, turn.seq)
        outcome.error = TurnError(
            code="internal_error", detail=f"the turn failed unexpectedly: {type(exc).__name__}"
        )
    # The whole turn's records: the earlier runs' (the answered one with its results noted
    # now), then this run's.
    outcome.records = [*turn.records, *calls.records]
    return outcome


async def _resume(
    deps: ActorDeps, request: ReplyRequest, context: ReplyContext, turn: LongTurn
) -> str:
    if turn.paused is None or not isinstance(deps.responder, Resumable):
        raise AgentActorsError("this responder cannot resume a reply paused for an approval")
    # ``paused``: a decided approval, or the last step of a lost run (its tool calls' progress).
    # The record of the answer that asked for the tools: their results are noted there.
    answered = turn.records[-1] if turn.records else None
    return await deps.responder.resume(request, context, Resumption(turn.paused, answered))


async def _report(deps: ActorDeps, user: str, outcome: RunOutcome) -> None:
    chat = ChatAgentClient(deps.proxies, user)
    delay = REPORT_BACKOFF_S
    try:
        for attempt in range(1, REPORT_TRIES + 1):
            try:
                await chat.end_run(outcome)
                return
            except (ActorUnavailable, ConversationMoved) as exc:
                if attempt == REPORT_TRIES:
                    log.error(
                        "user=%s seq=%d: could not report the long turn's result (%s); the "
                        "reminder fails the turn",
                        user,
                        outcome.seq,
                        exc.code,
                    )
                    return
                await asyncio.sleep(delay)
                delay *= 2
            except Exception:
                # Not worth retrying (a bug, a refusal): the reminder fails the turn.
                log.exception("user=%s seq=%d: reporting the long turn failed", user, outcome.seq)
                return
    finally:
        deps.runs.changed(user)
