"""POST /chat/{id}/stream and GET /chat/{id}/calls on the in-memory twin."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from agent_actors.llm.responder import ReplyContext, ReplyRequest
from agent_actors.main import create_app
from agent_actors.settings import AuthSettings, Settings, StreamSettings
from tests.sse import events_of
from tests.unit.llm.fake_openai import FakeModel, streamed
from tests.unit.twins import LocalActors, make_deps

Twins = tuple[TestClient, LocalActors]


def events(client: TestClient, user: str, content: str) -> list[tuple[str, dict[str, Any]]]:
    with client.stream("POST", f"/chat/{user}/stream", json={"content": content}) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        return events_of(resp)


def use_model(client: TestClient, model: FakeModel) -> None:
    # The route and the responder meet on the app's hub, as in the app.
    client.app.state.deps.responder = model.responder(client.app.state.streams)  # type: ignore[attr-defined]


def test_tokens_then_the_committed_turn(twins: Twins) -> None:
    client, _ = twins
    use_model(client, FakeModel(streamed(["Hel", "lo"])))
    got = events(client, "user1", "hi")
    assert got == [
        ("token", {"text": "Hel"}),
        ("token", {"text": "lo"}),
        ("done", {"role": "assistant", "content": "Hello", "seq": 1}),
    ]
    assert client.get("/chat/user1/history").json()["history"][-1]["content"] == "Hello"
    calls = client.get("/chat/user1/calls").json()
    assert calls["total"] == 1
    assert calls["calls"][0]["stream"] is True


def test_a_responder_that_does_not_stream_sends_the_reply_as_one_chunk(twins: Twins) -> None:
    client, _ = twins  # the offline responder
    got = events(client, "user1", "hi")
    assert [name for name, _ in got] == ["token", "done"]
    assert got[0][1]["text"] == got[1][1]["content"]
    assert "Got your message: hi" in got[1][1]["content"]


def test_a_failure_before_any_token_is_a_plain_5xx(twins: Twins) -> None:
    client, _ = twins
    use_model(client, FakeModel(httpx.Response(503, json={"error": {"message": "down"}})))
    resp = client.post("/chat/user1/stream", json={"content": "hi"})
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "2"
    assert resp.json()["code"] == "responder_unavailable"
    assert client.get("/chat/user1/history").json()["total"] == 0
    # The failed turn's model calls are on record all the same.
    calls = client.get("/chat/user1/calls").json()["calls"]
    assert calls
    assert {c["status"] for c in calls} == {"error"}


def test_bad_input_is_refused_before_any_turn(twins: Twins) -> None:
    client, _ = twins
    assert client.post("/chat/user1/stream", json={"content": " "}).status_code == 422
    assert client.post("/chat/a|b/stream", json={"content": "x"}).status_code == 422


class StallingStream(httpx.AsyncByteStream):
    """One token, then the connection stalls past the read timeout."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        chunk = {
            "id": "c1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": "m",
            "choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}],
        }
        yield f"data: {json.dumps(chunk)}\n\n".encode()
        raise httpx.ReadTimeout("stalled")


def test_a_failure_after_tokens_ends_the_stream_with_an_error_event(twins: Twins) -> None:
    client, _ = twins
    stalling = httpx.Response(
        200, headers={"content-type": "text/event-stream"}, stream=StallingStream()
    )
    client.app.state.deps.responder = FakeModel(stalling).responder(
        client.app.state.streams, max_retries=0
    )  # type: ignore[attr-defined]
    got = events(client, "user1", "hi")
    assert got[0] == ("token", {"text": "Hel"})
    assert got[-1] == (
        "error",
        {"detail": "the model did not answer in time", "code": "responder_timeout", "status": 504},
    )
    assert client.get("/chat/user1/history").json()["total"] == 0


def quiet_then(seconds: float, answer: httpx.Response) -> Any:
    """A model that thinks for ``seconds`` before it answers."""

    async def respond(_body: dict[str, Any]) -> httpx.Response:
        await asyncio.sleep(seconds)
        return answer

    return respond


@pytest.fixture
def pinging() -> Iterator[TestClient]:
    """The app on the twin, with a keep-alive ping every 50 ms."""
    settings = Settings(
        auth=AuthSettings(app_api_token="unit-token"), streams=StreamSettings(ping_s=0.05)
    )
    with TestClient(create_app(settings)) as client:
        client.app.state.deps = make_deps(settings)[0]  # type: ignore[attr-defined]
        yield client


def test_a_quiet_model_keeps_the_stream_open_with_pings(pinging: TestClient) -> None:
    use_model(pinging, FakeModel(quiet_then(0.4, streamed(["Hel", "lo"]))))
    with pinging.stream("POST", "/chat/user1/stream", json={"content": "hi"}) as resp:
        assert resp.status_code == 200
        lines = list(resp.iter_lines())
    # The stream started before the first token, and said so while the model was quiet.
    assert [line for line in lines if line.startswith(": ping")]
    body = "\n".join(line for line in lines if not line.startswith(":")) + "\n\n"
    got = events_of(httpx.Response(200, text=body, headers=resp.headers))
    assert got == [
        ("token", {"text": "Hel"}),
        ("token", {"text": "lo"}),
        ("done", {"role": "assistant", "content": "Hello", "seq": 1}),
    ]


def test_a_quiet_turn_that_fails_ends_with_an_error_event(pinging: TestClient) -> None:
    failing = httpx.Response(500, json={"error": {"message": "boom"}})
    use_model(pinging, FakeModel(quiet_then(0.2, failing)))
    with pinging.stream("POST", "/chat/user1/stream", json={"content": "hi"}) as resp:
        assert resp.status_code == 200  # already streaming when the model failed
        got = events_of(resp)
    assert got[-1][0] == "error"
    assert got[-1][1]["status"] == 502
    assert pinging.get("/chat/user1/history").json()["total"] == 0


class SlowWholeReply:
    """A responder that never streams and takes its time (a remote actor without a relay)."""

    async def reply(self, request: ReplyRequest, context: ReplyContext) -> str:
        await asyncio.sleep(0.2)
        return "all at once"


def test_a_quiet_reply_that_never_streamed_arrives_as_one_token(pinging: TestClient) -> None:
    pinging.app.state.deps.responder = SlowWholeReply()  # type: ignore[attr-defined]
    with pinging.stream("POST", "/chat/user1/stream", json={"content": "hi"}) as resp:
        got = events_of(resp)
    assert got == [
        ("token", {"text": "all at once"}),
        ("done", {"role": "assistant", "content": "all at once", "seq": 1}),
    ]
