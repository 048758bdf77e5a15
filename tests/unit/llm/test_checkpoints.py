"""What a run started again after a crash does with a saved step's calls (checkpoints.py),
and the responder's saves around each tool call."""

from __future__ import annotations

from dataclasses import replace

import pytest

from agent_actors.llm import approvals, checkpoints
from agent_actors.llm.approvals import (
    APPROVAL_REASON,
    INTERRUPTED_REASON,
    ApprovalRequired,
    AskedCall,
    Decision,
    PausedReply,
)
from agent_actors.llm.profiles import AgentProfile, ToolGrant
from agent_actors.llm.responder import ReplyContext, ReplyRequest
from agent_actors.llm.tools import DEFAULT_TOOLS, ToolRegistry
from agent_actors.models import ChatMessage
from tests.unit.llm.fake_openai import FakeModel, message, tool

APPROVED = Decision(approve=True, by="ops")


def tools(*, approval: bool = False, idempotent: bool = True) -> ToolRegistry:
    clock = DEFAULT_TOOLS.get("current_time")
    assert clock is not None
    return ToolRegistry([replace(clock, approval=approval, idempotent=idempotent)])


def step(attempts: int, result: str | None = None, decision: Decision | None = None) -> PausedReply:
    call = AskedCall(id="c1", name="current_time", arguments="{}", attempts=attempts, result=result)
    return PausedReply(messages=[], after_prompt=True, calls=[call], decisions=[decision])


def test_a_call_with_a_result_or_never_started_is_left_as_it_is() -> None:
    for saved in (step(1, result="noon"), step(0)):
        assert checkpoints.recover(tools(idempotent=False), saved) == saved


def test_an_approved_call_not_idempotent_is_asked_about_again_with_the_reason() -> None:
    registry = tools(approval=True, idempotent=False)
    recovered = checkpoints.recover(registry, step(1, decision=APPROVED))
    assert recovered.calls[0].interrupted
    assert recovered.decisions == [None]
    with pytest.raises(ApprovalRequired) as asked:
        approvals.check(registry, recovered)
    assert asked.value.paused.reason == INTERRUPTED_REASON
    # Decided again, it is not asked about a third time (recover leaves the decision).
    decided = asked.value.paused.decided(APPROVED)
    assert checkpoints.recover(registry, decided) == decided
    approvals.check(registry, decided)


def test_an_idempotent_call_keeps_its_approval_and_runs_again() -> None:
    registry = tools(approval=True)
    recovered = checkpoints.recover(registry, step(1, decision=APPROVED))
    assert (recovered.calls[0].interrupted, recovered.decisions) == (True, [APPROVED])
    approvals.check(registry, recovered)


def test_a_call_started_twice_gets_a_tool_error_for_a_result() -> None:
    recovered = checkpoints.recover(tools(), step(2))
    assert recovered.calls[0].result == checkpoints.LOST_TWICE


def test_an_approval_pause_says_why() -> None:
    with pytest.raises(ApprovalRequired) as asked:
        approvals.check(tools(approval=True), step(0))
    assert asked.value.paused.reason == APPROVAL_REASON


async def test_the_responder_saves_each_calls_start_and_the_results() -> None:
    saved: list[PausedReply] = []

    async def save(at: PausedReply) -> None:
        saved.append(at)

    calls = [tool("current_time", "{}", "c1"), tool("current_time", "{}", "c2")]
    model = FakeModel(message(None, calls), message("noon"))
    profile = AgentProfile(name="p", tools=[ToolGrant(name="current_time")])
    ask = ReplyRequest("u1", 1, ChatMessage(role="user", content="time?"), profile=profile)
    assert await model.responder().reply(ask, ReplyContext(steps=save)) == "noon"
    progress = [[(c.attempts, c.result is not None) for c in s.calls] for s in saved]
    # The first call's start; its result with the second's start; the second's result.
    assert progress == [[(1, False), (0, False)], [(1, True), (1, False)], [(1, True), (1, True)]]
