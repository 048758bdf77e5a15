"""The OpenAI responder against a fake server (httpx.MockTransport): loop, errors, records."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from agent_actors.errors import ResponderError, ResponderTimeout, ResponderUnavailable
from agent_actors.llm.completion import retry_after_s
from agent_actors.llm.openai_client import Pauses
from agent_actors.llm.responder import CallBuffer, ReplyContext, ReplyRequest
from agent_actors.models import ChatMessage
from agent_actors.streams.hub import StreamHub
from tests.unit.llm.fake_openai import FakeModel, message, streamed, tool


class Ask:
    """A request and the context it is answered in; ``calls`` are the records kept."""

    def __init__(self, content: str, **kwargs: Any) -> None:
        for name in ("memory", "recent"):
            if name in kwargs:
                kwargs[name] = tuple(kwargs[name])
        self.request = ReplyRequest("u1", 3, ChatMessage(role="user", content=content), **kwargs)
        self.buffer = CallBuffer()
        self.context = ReplyContext(calls=self.buffer)

    @property
    def calls(self) -> list[Any]:
        return self.buffer.records

    def __iter__(self) -> Any:
        return iter((self.request, self.context))


def ask(content: str = "hi", **kwargs: Any) -> Ask:
    return Ask(content, **kwargs)


async def test_the_prompt_holds_system_memory_recent_and_the_message() -> None:
    model = FakeModel(message("hello there"))
    request = ask(
        "and now?",
        memory=[ChatMessage(role="user", content="remembered")],
        recent=[
            ChatMessage(role="user", content="before"),
            ChatMessage(role="assistant", content="ok"),
        ],
    )
    assert await model.responder(system_prompt="Be brief.").reply(*request) == "hello there"
    sent = model.requests[0]["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[1]["role"] == "system"
    assert "remembered" in sent[1]["content"]
    assert sent[2:] == [
        {"role": "user", "content": "before"},
        {"role": "assistant", "content": "ok"},
        {"role": "user", "content": "and now?"},
    ]
    assert [t["function"]["name"] for t in model.requests[0]["tools"]] == [
        "current_time",
        "search_history",
    ]
    (record,) = request.calls
    assert (record.seq, record.model, record.status, record.tokens_in, record.tokens_out) == (
        3,
        "m",
        "ok",
        7,
        3,
    )


async def test_no_tools_are_offered_when_tool_steps_are_off() -> None:
    model = FakeModel(message("plain"))
    await model.responder(max_tool_steps=0).reply(*ask())
    assert "tools" not in model.requests[0]


async def test_a_tool_call_runs_and_its_result_goes_back_to_the_model() -> None:
    model = FakeModel(
        message(None, [tool("search_history", '{"query": "cat"}')]), message("your cat is Tom")
    )
    request = ask("cat?", recent=[ChatMessage(role="user", content="my cat is Tom")])
    assert await model.responder().reply(*request) == "your cat is Tom"
    second = model.requests[1]["messages"]
    assert second[-2]["tool_calls"][0]["function"]["name"] == "search_history"
    assert second[-1]["role"] == "tool"
    assert "my cat is Tom" in second[-1]["content"]
    assert [(c.purpose, c.status) for c in request.calls] == [("reply", "ok"), ("tool_step", "ok")]


async def test_an_unknown_tool_is_repaired_a_bounded_number_of_times() -> None:
    model = FakeModel(message(None, [tool("launch_rockets", "{}")]))
    request = ask()
    with pytest.raises(ResponderError, match="after 2 repair attempts"):
        await model.responder(max_repairs=2).reply(*request)
    assert [(c.purpose, c.status) for c in request.calls] == [
        ("reply", "invalid"),
        ("repair", "invalid"),
        ("repair", "invalid"),
    ]
    assert "launch_rockets" in (request.calls[0].tool_calls[0].error or "")
    note = model.requests[1]["messages"][-1]
    assert note["role"] == "user"
    assert "could not be used" in note["content"]


async def test_invalid_arguments_are_repaired_then_answered() -> None:
    model = FakeModel(message(None, [tool("search_history", '{"limit": 99}')]), message("fine"))
    request = ask()
    assert await model.responder().reply(*request) == "fine"
    assert request.calls[0].status == "invalid"
    assert "query" in (request.calls[0].error or "")


async def test_tool_steps_are_bounded() -> None:
    model = FakeModel(message(None, [tool("current_time", "{}")]))
    with pytest.raises(ResponderError, match="after 2 tool steps"):
        await model.responder(max_tool_steps=2).reply(*ask())
    assert len(model.requests) == 3


async def test_a_transient_failure_is_retried_and_each_attempt_recorded() -> None:
    model = FakeModel(httpx.Response(503, json={"error": {"message": "busy"}}), message("ok"))
    request = ask()
    assert await model.responder(max_retries=1).reply(*request) == "ok"
    assert [(c.attempt, c.status) for c in request.calls] == [(1, "error"), (2, "ok")]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(503, json={"error": {"message": "down"}}), ResponderUnavailable),
        (httpx.Response(429, json={"error": {"message": "slow down"}}), ResponderUnavailable),
        (httpx.Response(500, json={"error": {"message": "boom"}}), ResponderError),
        (httpx.Response(401, json={"error": {"message": "bad key"}}), ResponderError),
        (
            httpx.Response(200, text="{not json", headers={"content-type": "application/json"}),
            ResponderError,
        ),
        (httpx.ConnectError("refused"), ResponderUnavailable),
        (httpx.ReadTimeout("slow"), ResponderTimeout),
    ],
)
async def test_model_failures_become_the_right_domain_error(
    answer: Any, error: type[Exception]
) -> None:
    request = ask()
    with pytest.raises(error) as raised:
        await FakeModel(answer).responder(max_retries=1).reply(*request)
    assert type(raised.value) is error
    assert request.calls
    assert all(c.status == "error" for c in request.calls)


async def test_a_client_error_is_not_retried() -> None:
    model = FakeModel(httpx.Response(400, json={"error": {"message": "bad request"}}))
    with pytest.raises(ResponderError):
        await model.responder(max_retries=3).reply(*ask())
    assert len(model.requests) == 1


async def test_the_turn_budget_bounds_everything() -> None:
    async def never(_body: dict[str, Any]) -> httpx.Response:
        await asyncio.sleep(10)
        raise AssertionError("unreachable")

    responder = FakeModel(never).responder(turn_timeout_s=0.2)
    request = ask()
    with pytest.raises(ResponderTimeout, match=r"within 0\.2 s"):
        await responder.reply(*request)
    assert request.calls[0].status == "error"
    assert "cancelled" in (request.calls[0].error or "")


async def test_streamed_tokens_reach_the_hub_and_add_up_to_the_reply() -> None:
    hub = StreamHub()
    queue = await hub.open("s1")
    model = FakeModel(streamed(["Hel", "lo ", "there"]))
    request = ask(stream_id="s1")
    assert await model.responder(hub).reply(*request) == "Hello there"
    events = [queue.get_nowait() for _ in range(queue.qsize())]
    assert [e.text for e in events] == ["Hel", "lo ", "there"]
    assert model.requests[0]["stream"] is True
    assert model.requests[0]["stream_options"] == {"include_usage": True}
    assert (request.calls[0].stream, request.calls[0].tokens_out) == (True, 3)


async def test_without_a_listener_the_request_is_not_streamed() -> None:
    model = FakeModel(message("whole"))
    assert await model.responder().reply(*ask(stream_id="nobody")) == "whole"
    assert "stream" not in model.requests[0]


def failing(status: int, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers, json={"error": {"message": "busy"}})


class Slept:
    """The retries' pauses, recorded instead of slept, with scripted random draws."""

    def __init__(self, *draws: float) -> None:
        self.draws = list(draws)
        self.slept: list[float] = []

    def pauses(self) -> Pauses:
        async def sleep(seconds: float) -> None:
            self.slept.append(seconds)

        return Pauses(sleep=sleep, random=lambda: self.draws.pop(0))


async def test_retries_back_off_with_jitter_and_wait_out_retry_after() -> None:
    # Full jitter (a random part of the doubling backoff) keeps many users who met the same
    # 429 from coming back in lockstep; a Retry-After is waited out first.
    model = FakeModel(
        failing(503),
        failing(503),
        failing(429, {"retry-after": "3"}),
        failing(503, {"retry-after-ms": "1500"}),
        message("ok"),
    )
    slept = Slept(0.5, 0.25, 0.5, 0.0)
    responder = model.responder(
        pauses=slept.pauses(), max_retries=4, retry_backoff_s=1, retry_after_max_s=5
    )
    assert await responder.reply(*ask()) == "ok"
    assert slept.slept == [0.5, 0.25 * 2, 3 + 0.5 * 4, 1.5]


async def test_a_retry_after_beyond_the_cap_is_not_waited_for() -> None:
    model = FakeModel(failing(429, {"retry-after": "60"}), message("ok"))
    slept = Slept()
    responder = model.responder(pauses=slept.pauses(), max_retries=2, retry_after_max_s=5)
    with pytest.raises(ResponderUnavailable, match="429"):
        await responder.reply(*ask())
    assert (len(model.requests), slept.slept) == (1, [])


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({}, None),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": "-3"}, 0.0),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "Thu, 01 Jan 2026 00:00:09 GMT"}, 9.0),
        ({"retry-after": "Wed, 31 Dec 2025 23:00:00 GMT"}, 0.0),
        ({"retry-after-ms": "250", "retry-after": "7"}, 0.25),
    ],
)
def test_retry_after_is_read_in_seconds_or_as_a_date(
    headers: dict[str, str], seconds: float | None
) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert retry_after_s(httpx.Headers(headers), now) == seconds
