"""A long turn's progress through tool calls, kept so that no tool runs twice after a crash.

A long turn's run (``actors/turn_runner.py``) gives the responder a ``StepSaver``. Before a
tool call runs, the run saves the model answer's calls as a ``PausedReply`` (the same shape an
approval pause has: the messages the loop added, the answer's calls, the decisions) with that
call's ``attempts`` counted; once it returns, its ``result`` is saved with the next call's
start (or on its own after the last). ChatAgent keeps the latest one with the turn.

A run started again after a lost one (``long_turns._start_again``) resumes from it like from
a decided approval, through ``recover`` first:

    a call with a result        answered from the record: the tool is not run again
    a call started, no result   it was running at the crash (``interrupted``):
        idempotent tool           run again, once (its record: attempt 2,
                                  resumed_after_crash)
        idempotent: false         not run: the turn waits for a person (approvals.check,
                                  with the reason); approved, it runs; denied, the model
                                  gets a tool error
        started twice             not run a third time: the model gets a tool error

A turn inside an actor call (``POST /chat/{id}`` without ``Prefer``) saves nothing: it dies
with its caller, which gets an error, and nothing of it is committed.
"""

from __future__ import annotations

import json

from agent_actors.llm.approvals import PausedReply
from agent_actors.llm.tools import ToolRegistry
from agent_actors.models import CallRecord

LOST_TWICE = json.dumps(
    {
        "error": "this tool call was running when the turn's run was lost, twice (its app "
        "stopped, or the actor moved); it was not run a third time and may or may not have "
        "taken effect"
    }
)


def recover(tools: ToolRegistry, step: PausedReply) -> PausedReply:
    """``step`` as a run that starts from it must go on (see the module's table): a call
    started by a lost run without a result is marked ``interrupted``, its decision dropped
    when its tool is not idempotent (a person decides again: the first decision was for one
    run), and one started twice gets a tool error for a result."""
    for index, call in enumerate(step.calls):
        if not call.attempts or call.result is not None:
            continue
        if call.attempts >= 2:
            step = step.with_call(index, result=LOST_TWICE, interrupted=True)
        elif not call.interrupted:
            step = step.with_call(index, interrupted=True)
            tool = tools.get(call.name)
            if tool is not None and not tool.idempotent:
                decisions = list(step.decisions)
                decisions[index] = None
                step = step.model_copy(update={"decisions": decisions})
    return step


def note_attempts(record: CallRecord, step: PausedReply) -> None:
    """Mark, on the record of the answer that asked for them, the calls a lost run was
    running: run again (attempt 2) or given up."""
    by_id = {c.id: c for c in step.calls if c.interrupted}
    for seen in record.tool_calls:
        call = by_id.get(seen.id or "")
        if call is not None:
            seen.attempt, seen.resumed_after_crash = max(call.attempts, 1), True
