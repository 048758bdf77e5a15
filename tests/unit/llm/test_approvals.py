"""The responder's loop pausing before a tool call that needs approval, and resuming from the
persisted pause (a JSON round trip, as the actors store it)."""

from __future__ import annotations

import json

import pytest

from agent_actors.llm.approvals import ApprovalRequired, Decision, PausedReply, Resumption
from agent_actors.llm.profiles import AgentProfile, ToolGrant
from agent_actors.llm.responder import CallBuffer, ReplyContext, ReplyRequest
from agent_actors.models import ChatMessage
from tests.unit.llm.fake_openai import FakeModel, message, tool

GUARDED = AgentProfile(
    name="guarded",
    tools=[ToolGrant(name="current_time", approval="required"), ToolGrant(name="search_history")],
)


def request(content: str = "what time is it?") -> ReplyRequest:
    return ReplyRequest(
        "u1", 3, ChatMessage(role="user", content=content), profile=GUARDED, default_profile=False
    )


async def pause(model: FakeModel, buffer: CallBuffer) -> PausedReply:
    with pytest.raises(ApprovalRequired) as stopped:
        await model.responder().reply(request(), ReplyContext(calls=buffer))
    # What the actors keep, and give back to the run that resumes.
    return PausedReply.model_validate_json(stopped.value.paused.model_dump_json())


async def test_a_tool_that_needs_approval_pauses_before_it_runs_and_resumes_approved() -> None:
    model = FakeModel(message(None, [tool("current_time", "{}")]), message("it is noon"))
    buffer = CallBuffer()
    paused = await pause(model, buffer)
    assert len(model.requests) == 1
    assert (paused.asked.name, paused.asked.grant, paused.asked.arguments) == (
        "current_time",
        "current_time",
        "{}",
    )
    assert paused.steps == 1
    [answered] = buffer.records
    decided = paused.decided(Decision(approve=True, note="ok", by="key:abc"))
    resumed = CallBuffer()
    at = Resumption(decided, answered)
    text = await model.responder().resume(request(), ReplyContext(calls=resumed), at)
    assert text == "it is noon"
    second = model.requests[1]["messages"]
    assert second[-2]["tool_calls"][0]["function"]["name"] == "current_time"
    assert second[-1]["role"] == "tool"
    assert "utc" in json.loads(second[-1]["content"])
    # The tool's result is noted in the record of the answer that asked for it.
    assert answered.tool_calls[0].result is not None
    assert "utc" in answered.tool_calls[0].result
    assert [c.purpose for c in resumed.records] == ["tool_step"]


async def test_a_denied_call_does_not_run_and_the_model_gets_a_tool_error() -> None:
    model = FakeModel(message(None, [tool("current_time", "{}")]), message("I may not look"))
    paused = await pause(model, CallBuffer())
    decided = paused.decided(Decision(approve=False, note="not now"))
    text = await model.responder().resume(request(), ReplyContext(), Resumption(decided))
    assert text == "I may not look"
    result = json.loads(model.requests[1]["messages"][-1]["content"])
    assert "denied" in result["error"]
    assert result["note"] == "not now"


async def test_calls_needing_approval_are_asked_one_at_a_time_others_run_freely() -> None:
    calls = [
        tool("search_history", '{"query": "x"}', "c1"),
        tool("current_time", "{}", "c2"),
        tool("current_time", "{}", "c3"),
    ]
    model = FakeModel(message(None, calls), message("done"))
    paused = await pause(model, CallBuffer())
    assert (paused.asking, paused.asked.id) == (1, "c2")
    with pytest.raises(ApprovalRequired) as again:
        await model.responder().resume(
            request(), ReplyContext(), Resumption(paused.decided(Decision(approve=True)))
        )
    second = again.value.paused
    assert (second.asking, second.asked.id) == (2, "c3")
    assert len(model.requests) == 1  # nothing ran, nobody was asked, until all are decided
    text = await model.responder().resume(
        request(), ReplyContext(), Resumption(second.decided(Decision(approve=False)))
    )
    assert text == "done"
    results = [m for m in model.requests[1]["messages"] if m["role"] == "tool"]
    assert [r["tool_call_id"] for r in results] == ["c1", "c2", "c3"]
    assert "matches" in results[0]["content"]
    assert "utc" in results[1]["content"]
    assert "denied" in results[2]["content"]


async def test_without_the_grant_the_tool_runs_without_asking() -> None:
    model = FakeModel(message(None, [tool("current_time", "{}")]), message("noon"))
    free = AgentProfile(name="free", tools=[ToolGrant(name="current_time")])
    ask = ReplyRequest("u1", 3, ChatMessage(role="user", content="time?"), profile=free)
    assert await model.responder().reply(ask, ReplyContext()) == "noon"


async def test_a_long_turn_budget_replaces_the_turn_timeout() -> None:
    model = FakeModel(message("fine"))
    context = ReplyContext(turn_timeout_s=120)
    # turn_timeout_s is tiny, but the context's budget is the one that counts.
    assert await model.responder(turn_timeout_s=0.001).reply(request("hi"), context) == "fine"


def with_history(entries: int) -> ReplyRequest:
    recent = tuple(
        ChatMessage(role="user" if i % 2 == 0 else "assistant", content="😀" * 8000)
        for i in range(entries)
    )
    return ReplyRequest(
        "u1",
        entries + 1,
        ChatMessage(role="user", content="what time is it?"),
        recent=recent,
        profile=GUARDED,
        default_profile=False,
    )


async def test_a_pause_keeps_its_steps_not_the_prompt_which_resume_builds_again() -> None:
    # A second tool step first (search_history runs freely), then the guarded call.
    model = FakeModel(
        message(None, [tool("search_history", '{"query": "x"}')]),
        message(None, [tool("current_time", "{}")]),
        message("it is noon"),
    )
    asked = with_history(40)
    with pytest.raises(ApprovalRequired) as stopped:
        await model.responder().reply(asked, ReplyContext(calls=CallBuffer()))
    stored = stopped.value.paused.model_dump_json()
    # 40 entries of 8,000 emoji (12 bytes each in an actor payload) are not carried along.
    assert len(stored) < 10_000
    paused = PausedReply.model_validate_json(stored)
    assert [m["role"] for m in paused.messages] == ["assistant", "tool"]
    decided = paused.decided(Decision(approve=True))
    text = await model.responder().resume(asked, ReplyContext(), Resumption(decided))
    assert text == "it is noon"
    # The model sees after the resume exactly the prompt and steps it saw before the pause.
    before, after = model.requests[1]["messages"], model.requests[2]["messages"]
    assert after[: len(before)] == before
    assert after[len(before)]["tool_calls"][0]["function"]["name"] == "current_time"


async def test_a_pause_stored_before_holds_the_whole_prompt_and_still_resumes() -> None:
    model = FakeModel(message(None, [tool("current_time", "{}")]), message("it is noon"))
    paused = await pause(model, CallBuffer())
    first = model.requests[0]["messages"]
    # As an older version stored it: the whole prompt, and no after_prompt.
    old = PausedReply.model_validate(
        {**paused.model_dump(exclude={"after_prompt"}), "messages": first}
    )
    assert old.after_prompt is False
    decided = old.decided(Decision(approve=True))
    assert await model.responder().resume(request(), ReplyContext(), Resumption(decided)) == (
        "it is noon"
    )
    assert model.requests[1]["messages"][: len(first)] == first
