"""The audit trail: what a call record keeps of a request, and the bounds on it."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from agent_actors.llm import audit
from agent_actors.llm.profiles import AgentProfile
from agent_actors.llm.responder import CallBuffer, ReplyContext, ReplyRequest
from agent_actors.models import CallRecord, ChatMessage, ToolCallRecord, fit_record, record_size
from tests.unit.llm.fake_openai import FakeModel, message, tool


def ask(content: str, **kwargs: Any) -> tuple[ReplyRequest, ReplyContext, CallBuffer]:
    buffer = CallBuffer()
    request = ReplyRequest("u1", 1, ChatMessage(role="user", content=content), **kwargs)
    return request, ReplyContext(calls=buffer), buffer


async def test_a_record_holds_the_messages_the_answer_and_the_tool_results() -> None:
    model = FakeModel(message(None, [tool("current_time", "{}", "call_9")]), message("noon"))
    request, context, buffer = ask("what time is it?")
    assert await model.responder().reply(request, context) == "noon"
    first, second = buffer.records
    assert [m.role for m in first.messages] == ["system", "user"]
    assert first.messages[-1].content == "what time is it?"
    assert first.messages_sent == 2
    assert first.content_recorded
    (call,) = first.tool_calls
    assert (call.name, call.id, call.arguments) == ("current_time", "call_9", "{}")
    assert call.result is not None
    assert "utc" in json.loads(call.result)
    assert (call.approved_by, call.approval_note) == (None, None)
    # The second request carries the tool round: the assistant's call and its result.
    assert [m.role for m in second.messages] == ["system", "user", "assistant", "tool"]
    assert second.messages[2].tool_calls[0].name == "current_time"
    assert second.messages[3].tool_call_id == "call_9"
    assert second.answer == "noon"
    assert second.response_id == "c1"
    assert first.request_id
    assert first.request_id != second.request_id


async def test_without_record_content_a_record_holds_no_text() -> None:
    model = FakeModel(message(None, [tool("current_time", "{}")]), message("secret answer"))
    request, context, buffer = ask("my secret question")
    await model.responder(record_content=False).reply(request, context)
    text = json.dumps([r.model_dump(mode="json") for r in buffer.records])
    assert "secret" not in text
    assert "utc" not in text
    first, second = buffer.records
    assert not first.content_recorded
    assert [(m.role, m.content, m.chars) for m in first.messages][-1] == ("user", "", 18)
    assert first.tool_calls[0].name == "current_time"
    assert first.tool_calls[0].result is None
    assert second.answer is None


async def test_messages_are_bounded_in_number_and_length() -> None:
    model = FakeModel(message("ok"))
    recent = tuple(
        ChatMessage(role="user" if i % 2 == 0 else "assistant", content=f"m{i} " + "x" * 50)
        for i in range(10)
    )
    request, context, buffer = ask("now " + "y" * 100, recent=recent)
    await model.responder(record_messages=4, record_chars=20).reply(request, context)
    (record,) = buffer.records
    assert record.messages_sent == 12
    assert [m.role for m in record.messages] == ["system", "user", "assistant", "user"]
    # The first (the system prompt) and the newest three.
    assert record.messages[1].content.startswith("m8 ")
    assert all(len(m.content) <= 20 for m in record.messages)
    assert record.messages[-1].chars == 104
    assert record.messages[-1].content.endswith("…")


async def test_the_profile_decides_the_model_the_prompt_and_the_options() -> None:
    model = FakeModel(message("ok"))
    profile = AgentProfile(
        name="support", model="small", system_prompt="Be terse.", temperature=0.2, max_tokens=9
    )
    request, context, buffer = ask("hi", profile=profile, default_profile=False)
    await model.responder(temperature=0.9).reply(request, context)
    sent = model.requests[0]
    assert (sent["model"], sent["temperature"], sent["max_tokens"]) == ("small", 0.2, 9)
    assert sent["messages"][0] == {"role": "system", "content": "Be terse."}
    (record,) = buffer.records
    assert (record.model, record.agent) == ("small", "support")


async def test_without_a_profile_the_settings_decide() -> None:
    model = FakeModel(message("ok"))
    request, context, _ = ask("hi")
    await model.responder(system_prompt="S.", max_output_tokens=50).reply(request, context)
    sent = model.requests[0]
    assert (sent["model"], sent["max_tokens"], "temperature" in sent) == ("m", 50, False)
    assert sent["messages"][0]["content"] == "S."


def big_record(text: str, messages: int = 20) -> CallRecord:
    return CallRecord(
        seq=1,
        at=datetime(2030, 1, 1, tzinfo=UTC),
        model="m",
        content_recorded=True,
        messages=audit.recorded_messages(
            [{"role": "user", "content": text} for _ in range(messages)], 2000, 24, True
        ),
        answer=text,
        tool_calls=[ToolCallRecord(name="t", arguments=text, result=text)],
    )


def test_fit_cuts_a_record_under_its_budget_keeping_the_newest_message() -> None:
    # Non-ASCII text is stored escaped (6 bytes a character): the budget is in stored bytes.
    record = big_record("é" * 5000 + "the end")
    assert record_size(record) > 100_000
    fitted = fit_record(record, 6000)
    assert record_size(fitted) <= 6000
    assert fitted.messages, "some messages are kept"
    assert fitted.messages[-1].chars == 5007
    assert record.answer == "é" * 5000 + "the end", "the original is untouched"


def test_fit_leaves_a_small_record_alone() -> None:
    record = big_record("short", messages=2)
    assert fit_record(record, 6000) is record


def test_fit_keeps_the_numbers_of_a_pathological_record() -> None:
    record = big_record("x")
    record.tool_calls = [ToolCallRecord(name="n" * 200 + str(i)) for i in range(500)]
    fitted = fit_record(record, 2048)
    assert record_size(fitted) <= 2048
    assert (fitted.seq, fitted.model) == (1, "m")
