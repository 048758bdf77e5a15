"""Tool calls that wait for a person: the pause, the decision, and what resuming needs.

A profile grants a tool with ``approval: required`` (``profiles.py``). When the model asks for
such a tool, the responder's loop stops before it runs any call of that answer and raises
``ApprovalRequired`` with a ``PausedReply``: the prompt so far, the answer's calls, the
decisions taken so far and the call now asked about. The actors persist it with the turn
(nothing waits in memory, no lock is held) and, once a person (or the deadline) decides,
hand it back to ``Resumable.resume``: the loop goes on from that answer, with a denied call
answered to the model as a tool error instead of being run. An answer with several calls
needing approval asks about them one at a time, in order.

The same pause holds a call of a tool granted ``idempotent: false`` that was running when a
long turn's run was lost (``checkpoints.py``): it may have taken effect, so a person decides
whether it runs again; ``PausedReply.reason`` says which of the two the pause is. A long
turn's run also saves a ``PausedReply`` before each tool call, as its checkpoint.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, Field

from agent_actors.llm.completion import ModelTurn, RequestedCall
from agent_actors.llm.responder import ReplyContext, ReplyRequest
from agent_actors.llm.tools import ToolRegistry
from agent_actors.models import CallRecord


class Decision(BaseModel):
    approve: bool
    note: str = ""
    by: str = Field("anonymous", description="who decided: an API key's identity, or deadline")


class AskedCall(BaseModel):
    id: str
    name: str
    arguments: str
    # How the profile grants the tool (``files.delete`` for the model's ``files__delete``).
    grant: str = ""
    # Its progress in a long turn's run (``checkpoints.py``): the times a run started it, what
    # it returned (None: nothing recorded yet), and whether a run was lost while it ran.
    attempts: int = 0
    result: str | None = None
    interrupted: bool = False


class PausedReply(BaseModel):
    """Where a reply stopped: ``messages`` is what the loop added to the prompt before the
    model's answer that asked for ``calls`` (earlier tool steps); ``decisions`` is aligned with
    ``calls`` (None: not asked or not needing approval); ``asking`` is the call now waiting for
    a decision.

    The prompt itself (system prompt, memory, the prompt history) is not kept: it is built
    again from the turn's job on resume, as it was built the first time. Kept, it made every
    paused turn carry the whole prompt history through daprd (in ResponseAgent's answer, a
    long turn's result and the stored turn), past daprd's body limit for long non-ASCII
    conversations. A pause saved before this (``after_prompt`` false) holds the whole prompt.
    """

    messages: list[dict[str, Any]]
    after_prompt: bool = False
    content: str = ""
    calls: list[AskedCall]
    decisions: list[Decision | None]
    asking: int = 0
    steps: int = 0
    repairs: int = 0
    # Why ``asking`` waits for a person (empty: a pause saved before reasons were kept).
    reason: str = ""

    @property
    def asked(self) -> AskedCall:
        return self.calls[self.asking]

    def decided(self, decision: Decision) -> PausedReply:
        decisions = list(self.decisions)
        decisions[self.asking] = decision
        return self.model_copy(update={"decisions": decisions})

    def with_call(self, index: int, **progress: Any) -> PausedReply:
        """A copy with call ``index`` updated (its attempts, result, interrupted)."""
        calls = list(self.calls)
        calls[index] = calls[index].model_copy(update=progress)
        return self.model_copy(update={"calls": calls})

    def answer(self) -> ModelTurn:
        """The model's answer that asked for the calls, as the loop runs it."""
        calls = [RequestedCall(c.id, c.name, c.arguments) for c in self.calls]
        return ModelTurn(content=self.content, tool_calls=calls)

    def prompt_and_steps(self, prompt: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The messages to go on from: the prompt built again, then the steps kept."""
        return [*prompt, *self.messages] if self.after_prompt else self.messages

    @classmethod
    def of(
        cls, steps_so_far: list[dict[str, Any]], turn: ModelTurn, steps: int, repairs: int
    ) -> PausedReply:
        """A pause after ``steps_so_far`` (the messages the loop added to the prompt)."""
        calls = [AskedCall(id=c.id, name=c.name, arguments=c.arguments) for c in turn.tool_calls]
        return cls(
            messages=steps_so_far,
            after_prompt=True,
            content=turn.content,
            calls=calls,
            decisions=[None] * len(calls),
            steps=steps,
            repairs=repairs,
        )


class ApprovalRequired(Exception):
    """The reply stopped before a tool call that needs a person's approval."""

    def __init__(self, paused: PausedReply) -> None:
        super().__init__(f"the tool call {paused.asked.name!r} needs approval")
        self.paused = paused


@dataclass(frozen=True)
class Resumption:
    """A paused reply handed back to go on: ``paused``, with the decisions taken so far, and
    ``answered``, the call record of the model answer that asked for its calls (their results
    are noted there; None: no record to note them in)."""

    paused: PausedReply
    answered: CallRecord | None = None


@runtime_checkable
class Resumable(Protocol):
    async def resume(self, request: ReplyRequest, context: ReplyContext, at: Resumption) -> str:
        """Go on from ``at.paused``: run the answer's calls, denied ones answered as tool
        errors, and continue the loop."""
        ...


APPROVAL_REASON = "the agent's profile grants this tool with approval: required"
INTERRUPTED_REASON = (
    "this call was running when the turn's run was lost (its app stopped, or the actor moved), "
    "and the tool is granted with idempotent: false: it may have taken effect, so it is not "
    "run again unless a person approves"
)


def check(tools: ToolRegistry, paused: PausedReply) -> None:
    """Raise ``ApprovalRequired`` for the first call of the answer that needs a decision and
    has none yet: its tool is granted with ``approval: required``, or it is not idempotent and
    was running when a run was lost (``checkpoints.recover``)."""
    for index, (call, decision) in enumerate(zip(paused.calls, paused.decisions, strict=True)):
        tool = tools.get(call.name)
        if decision is not None or tool is None or call.result is not None:
            continue
        reason = INTERRUPTED_REASON if call.interrupted and not tool.idempotent else ""
        reason = reason or (APPROVAL_REASON if tool.approval else "")
        if reason:
            asked = paused.with_call(index, grant=tool.granted_as)
            raise ApprovalRequired(asked.model_copy(update={"asking": index, "reason": reason}))


def denied(decision: Decision) -> str:
    """The tool result the model gets for a call a person (or the deadline) denied."""
    body = {"error": "a person denied this tool call; it did not run"}
    if decision.note:
        body["note"] = decision.note
    return json.dumps(body)
