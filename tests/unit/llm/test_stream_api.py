"""POST /chat/{id}/stream and GET /chat/{id}/calls on the in-memory twin."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi.testclient import TestClient

from agent_actors.llm.streams import STREAMS
from tests.sse import parse_sse
from tests.unit.llm.fake_openai import FakeModel, streamed
from tests.unit.twins import LocalActors

Twins = tuple[TestClient, LocalActors]


def events(client: TestClient, user: str, content: str) -> list[tuple[str, dict[str, Any]]]:
    with client.stream("POST", f"/chat/{user}/stream", json={"content": content}) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        return parse_sse(resp.iter_lines())


def use_model(client: TestClient, model: FakeModel) -> None:
    # The route and the responder meet on the process's hub, as in the app.
    client.app.state.deps.responder = model.responder(STREAMS)  # type: ignore[attr-defined]


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
    client.app.state.deps.responder = FakeModel(stalling).responder(STREAMS, max_retries=0)  # type: ignore[attr-defined]
    got = events(client, "user1", "hi")
    assert got[0] == ("token", {"text": "Hel"})
    assert got[-1] == (
        "error",
        {"detail": "the model did not answer in time", "code": "responder_timeout", "status": 504},
    )
    assert client.get("/chat/user1/history").json()["total"] == 0
