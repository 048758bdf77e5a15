"""The HTTP side of long turns and approvals: 202 + Location, the turn's state, the long-poll,
the approval route and who it records as the approver."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from agent_actors.main import create_app
from agent_actors.settings import AuthSettings, LimitSettings, Settings
from tests.unit.actors.test_long_turns import ApprovalResponder
from tests.unit.twins import LocalActors, make_deps

Twins = tuple[TestClient, LocalActors]
ASYNC = {"Prefer": "respond-async"}


def test_prefer_respond_async_answers_202_with_the_turns_location(twins: Twins) -> None:
    client, _ = twins
    resp = client.post("/chat/user1", json={"content": "hello"}, headers=ASYNC)
    assert resp.status_code == 202, resp.text
    assert resp.headers["Location"] == "/chat/user1/turns/1"
    assert resp.headers["Preference-Applied"] == "respond-async"
    assert resp.headers["Turn-Seq"] == "1"
    assert resp.json()["seq"] == 1
    assert resp.json()["status"] in {"pending", "done"}
    done = client.get(resp.headers["Location"], params={"wait": 5}).json()
    assert done["status"] == "done"
    assert "Got your message: hello" in done["response"]["content"]
    # Any committed turn can be read there, also one answered synchronously.
    client.post("/chat/user1", json={"content": "again"})
    assert client.get("/chat/user1/turns/2").json()["status"] == "done"
    assert client.get("/chat/user1/history").json()["total"] == 4


def test_other_preferences_and_no_preference_keep_the_synchronous_answer(twins: Twins) -> None:
    client, _ = twins
    resp = client.post("/chat/user1", json={"content": "hi"}, headers={"Prefer": "return=minimal"})
    assert resp.status_code == 200
    assert set(resp.json()) == {"response"}
    assert "Preference-Applied" not in resp.headers


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("get", "/chat/user1/turns/7", None, 404, "turn_not_found"),
        ("get", "/chat/user1/turns/0", None, 422, "invalid_input"),
        ("get", "/chat/user1/turns/1?wait=-1", None, 422, "invalid_input"),
        ("post", "/chat/user1/turns/1/approval", {"approve": True}, 409, "not_awaiting_approval"),
        ("post", "/chat/user1/turns/2/approval", {"approve": True}, 404, "turn_not_found"),
        ("post", "/chat/user1/turns/1/approval", {"note": "x"}, 422, "invalid_input"),
    ],
)
def test_bad_turn_requests_are_a_4xx_with_a_code(
    twins: Twins, method: str, path: str, body: object, status: int, code: str
) -> None:
    client, _ = twins
    assert client.post("/chat/user1", json={"content": "hi"}).status_code == 200
    resp = client.request(method, path, json=body)
    assert (resp.status_code, resp.json()["code"]) == (status, code), resp.text


@pytest.fixture
def keyed() -> Iterator[tuple[TestClient, LocalActors]]:
    settings = Settings(
        auth=AuthSettings(api_keys={"k1": "alice"}, app_api_token="t"),
        limits=LimitSettings(turn_wait_max_s=5),
    )
    with TestClient(create_app(settings)) as client:
        deps, actors, _ = make_deps(settings)
        deps.responder = ApprovalResponder()
        client.app.state.deps = deps  # type: ignore[attr-defined]
        yield client, actors


def test_a_turn_waiting_for_approval_is_a_202_and_the_approver_is_recorded(
    keyed: Twins,
) -> None:
    client, _ = keyed
    auth = {"authorization": "Bearer k1"}
    resp = client.post("/chat/alice", json={"content": "delete a"}, headers=auth)
    assert resp.status_code == 202, resp.text
    assert "Preference-Applied" not in resp.headers
    location = resp.headers["Location"]
    asked = resp.json()
    assert asked["status"] == "awaiting_approval"
    assert asked["approval"]["tool"] == "files.delete"
    # No wait while it awaits a person: ?wait returns at once.
    assert client.get(location, params={"wait": 30}, headers=auth).json() == asked
    assert client.post(f"{location}/approval", json={"approve": True}).status_code == 401
    approved = client.post(f"{location}/approval", json={"approve": True}, headers=auth)
    assert approved.status_code == 202
    assert approved.headers["Location"] == location
    assert approved.json()["status"] == "pending"
    again = client.post(f"{location}/approval", json={"approve": True}, headers=auth)
    assert (again.status_code, again.json()["code"]) == (409, "not_awaiting_approval")
    done = client.get(location, params={"wait": 5}, headers=auth).json()
    assert done["response"]["content"] == "deleted"
    [record] = client.get("/chat/alice/calls", headers=auth).json()["calls"]
    identity = "key:" + hashlib.sha256(b"k1").hexdigest()[:12]
    assert record["tool_calls"][0]["approved_by"] == identity


def test_a_streamed_turn_that_waits_for_approval_is_the_same_202(twins: Twins) -> None:
    client, _ = twins
    client.app.state.deps.responder = ApprovalResponder()  # type: ignore[attr-defined]
    resp = client.post("/chat/user1/stream", json={"content": "delete a"})
    assert resp.status_code == 202, resp.text
    assert resp.headers["Location"] == "/chat/user1/turns/1"
    assert resp.json()["status"] == "awaiting_approval"
