"""Event ids, reconnecting with Last-Event-ID and attaching to a turn, on the actors' twin
with the turn log's twin (the real Redis log: tests/integration/test_resumable_streams.py)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from httpx_sse import EventSource

from agent_actors.main import create_app
from agent_actors.settings import AuthSettings, Settings
from tests.unit.llm.fake_openai import FakeModel, streamed
from tests.unit.streams.memory_log import MemoryLog
from tests.unit.twins import make_deps

Event = tuple[str, str, str]  # name, text (or content), id


@pytest.fixture
def logged() -> Iterator[tuple[TestClient, MemoryLog]]:
    settings = Settings(auth=AuthSettings(app_api_token="unit-token"))
    log = MemoryLog()
    with TestClient(create_app(settings)) as client:
        deps = make_deps(settings)[0]
        hub = client.app.state.streams  # type: ignore[attr-defined]
        deps.streams = hub
        client.app.state.deps = deps  # type: ignore[attr-defined]
        client.portal.call(hub.start_log, log)  # type: ignore[union-attr]
        model = FakeModel(streamed(["Hel", "lo"]))
        client.app.state.deps.responder = model.responder(hub)  # type: ignore[attr-defined]
        yield client, log
        client.portal.call(hub.stop_log)  # type: ignore[union-attr]


def read(resp: httpx.Response) -> list[Event]:
    assert resp.status_code == 200, resp.read()
    got = []
    for sse in EventSource(resp).iter_sse():
        if sse.data:
            data = sse.json()
            got.append((sse.event, data.get("text", data.get("content", "")), sse.id))
    return got


def post(client: TestClient, headers: dict[str, str] | None = None) -> list[Event]:
    body = {"content": "hi"}
    with client.stream("POST", "/chat/user1/stream", json=body, headers=headers) as resp:
        return read(resp)


def attach(client: TestClient, seq: int, last: str | None = None) -> list[Event]:
    headers = {} if last is None else {"Last-Event-ID": last}
    with client.stream("GET", f"/chat/user1/turns/{seq}/stream", headers=headers) as resp:
        return read(resp)


def test_each_event_has_its_turn_and_position_and_the_log_has_them(
    logged: tuple[TestClient, MemoryLog],
) -> None:
    client, log = logged
    assert post(client) == [
        ("token", "Hel", "1-1"),
        ("token", "lo", "1-2"),
        ("done", "Hello", "1-3"),
    ]
    assert [(e.pos, e.text) for e in log.events("user1", 1)] == [(1, "Hel"), (2, "lo")]


def test_a_reconnect_gets_the_rest_and_an_attach_the_whole_turn(
    logged: tuple[TestClient, MemoryLog],
) -> None:
    client, _ = logged
    post(client)
    assert attach(client, 1, "1-1") == [("token", "lo", "1-2"), ("done", "Hello", "1-3")]
    assert attach(client, 1) == [
        ("token", "Hel", "1-1"),
        ("token", "lo", "1-2"),
        ("done", "Hello", "1-3"),
    ]
    # POST with Last-Event-ID is a reconnect, not a new turn.
    assert post(client, {"Last-Event-ID": "1-2"}) == [("done", "Hello", "1-3")]
    assert client.get("/chat/user1/history").json()["total"] == 2


def test_an_erased_conversation_takes_its_turn_logs_along(
    logged: tuple[TestClient, MemoryLog],
) -> None:
    client, log = logged
    post(client)
    assert log.events("user1", 1)
    assert client.delete("/chat/user1").status_code == 204
    assert log.streams == {}


def test_a_long_turn_is_watched_through_its_stream(logged: tuple[TestClient, MemoryLog]) -> None:
    client, _ = logged
    resp = client.post("/chat/user1", json={"content": "hi"}, headers={"Prefer": "respond-async"})
    assert resp.status_code == 202
    got = attach(client, int(resp.headers["Turn-Seq"]))
    assert got[-1] == ("done", "Hello", "1-3")
    text = ""
    for name, value, _ in got[:-1]:
        text = "" if name == "reset" else text + value
    assert text == "Hello"


def test_a_turn_that_never_was_ends_with_turn_not_found(
    logged: tuple[TestClient, MemoryLog],
) -> None:
    client, _ = logged
    with client.stream("GET", "/chat/user1/turns/7/stream") as resp:
        events = [(s.event, s.json()) for s in EventSource(resp).iter_sse() if s.data]
    assert [(name, data["code"]) for name, data in events] == [("error", "turn_not_found")]


@pytest.mark.parametrize("last", ["x", "2-1", "1-"])
def test_a_last_event_id_of_another_turn_or_no_id_is_refused(
    logged: tuple[TestClient, MemoryLog], last: str
) -> None:
    client, _ = logged
    resp = client.get("/chat/user1/turns/1/stream", headers={"Last-Event-ID": last})
    assert resp.status_code == 422
    assert resp.json()["code"] == "invalid_input"
