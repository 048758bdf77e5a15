"""daprd's actor method calls reach ActorRuntime.dispatch without FastAPI's routing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from dapr.actor.runtime.runtime import ActorRuntime
from fastapi.testclient import TestClient
from starlette.routing import Router

from agent_actors.main import create_app
from agent_actors.settings import AuthSettings, Settings

TOKEN = {"dapr-api-token": "unit-token"}
PATH = "/actors/ChatAgent/u1/method/GetSummary"


@pytest.fixture
def client() -> Iterator[TestClient]:
    with TestClient(create_app(Settings(auth=AuthSettings(app_api_token="unit-token")))) as c:
        yield c


def fake_dispatch(calls: list[tuple[Any, ...]], fail: Exception | None = None) -> Any:
    async def dispatch(*args: Any) -> bytes:
        calls.append(args)
        if fail is not None:
            raise fail
        return b'{"ok": {"turns": 3}}'

    return dispatch


def test_a_method_call_is_dispatched_without_the_router(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(ActorRuntime, "dispatch", fake_dispatch(calls))

    async def no_routing(*args: Any) -> None:
        raise AssertionError("FastAPI's routing was used")

    monkeypatch.setattr(Router, "__call__", no_routing)
    headers = {**TOKEN, "Dapr-Reentrancy-Id": "r-1"}
    r = client.put(PATH, content=b'{"a": 1}', headers=headers)
    assert r.status_code == 200
    assert r.content == b'{"ok": {"turns": 3}}'
    assert r.headers["content-type"] == "application/json; utf-8"
    assert calls == [("ChatAgent", "u1", "GetSummary", b'{"a": 1}', "r-1")]


def test_it_answers_a_failure_as_the_sdk_route_does(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(ActorRuntime, "dispatch", fake_dispatch(calls, RuntimeError("boom")))
    r = client.put(PATH, content=b"{}", headers=TOKEN)
    assert r.status_code == 500
    assert r.json() == {"message": "RuntimeError('boom')", "errorCode": "UNKNOWN"}


def test_the_sidecar_token_is_still_checked_first(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(ActorRuntime, "dispatch", fake_dispatch(calls))
    assert client.put(PATH, content=b"{}").status_code == 401
    assert client.put(PATH, content=b"{}", headers={"dapr-api-token": "x"}).status_code == 401
    assert calls == []


def test_reminders_timers_and_deactivation_keep_the_sdk_routes(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, ...]] = []
    fired: list[tuple[Any, ...]] = []
    monkeypatch.setattr(ActorRuntime, "dispatch", fake_dispatch(calls))

    async def fire_reminder(*args: Any) -> None:
        fired.append(args)

    monkeypatch.setattr(ActorRuntime, "fire_reminder", fire_reminder)
    r = client.put("/actors/ChatAgent/u1/method/remind/outbox", content=b"{}", headers=TOKEN)
    assert r.status_code == 200
    assert fired == [("ChatAgent", "u1", "outbox", b"{}")]
    assert calls == []
