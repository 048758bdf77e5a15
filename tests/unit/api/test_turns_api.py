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
APPROVE = {"call_id": "c1", "approve": True}


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
        ("post", "/chat/user1/turns/1/approval", APPROVE, 409, "not_awaiting_approval"),
        ("post", "/chat/user1/turns/2/approval", APPROVE, 404, "turn_not_found"),
        (
            "post",
            "/chat/user1/turns/1/approval",
            {"call_id": "c", "note": "x"},
            422,
            "invalid_input",
        ),
        ("post", "/chat/user1/turns/1/approval", {"approve": True}, 422, "invalid_input"),
        ("post", "/chat/user1/turns/1/approval", {**APPROVE, "call_id": ""}, 422, "invalid_input"),
    ],
)
def test_bad_turn_requests_are_a_4xx_with_a_code(
    twins: Twins, method: str, path: str, body: object, status: int, code: str
) -> None:
    client, _ = twins
    assert client.post("/chat/user1", json={"content": "hi"}).status_code == 200
    resp = client.request(method, path, json=body)
    assert (resp.status_code, resp.json()["code"]) == (status, code), resp.text


def keyed_app(api_keys: dict[str, object]) -> Iterator[Twins]:
    settings = Settings(
        auth=AuthSettings.model_validate({"api_keys": api_keys, "app_api_token": "t"}),
        limits=LimitSettings(turn_wait_max_s=5),
    )
    with TestClient(create_app(settings)) as client:
        deps, actors, _ = make_deps(settings)
        deps.responder = ApprovalResponder()
        client.app.state.deps = deps  # type: ignore[attr-defined]
        yield client, actors


@pytest.fixture
def keyed() -> Iterator[Twins]:
    yield from keyed_app({"k1": "alice"})


@pytest.fixture
def with_approvers() -> Iterator[Twins]:
    yield from keyed_app(
        {
            "k1": "alice",
            "k-admin": {"users": "*", "label": "admin"},
            "k-ops": {"users": "alice", "label": "ops", "approver": True},
        }
    )


BY_K1 = {"authorization": "Bearer k1"}


def paused_turn(client: TestClient) -> tuple[str, dict[str, object]]:
    resp = client.post("/chat/alice", json={"content": "delete a"}, headers=BY_K1)
    assert resp.status_code == 202, resp.text
    asked: dict[str, object] = resp.json()
    assert asked["status"] == "awaiting_approval"
    return resp.headers["Location"], asked


def test_a_turn_waiting_for_approval_is_a_202_and_the_approver_is_recorded(
    keyed: Twins,
) -> None:
    client, _ = keyed
    auth = BY_K1
    resp = client.post("/chat/alice", json={"content": "delete a"}, headers=auth)
    assert resp.status_code == 202, resp.text
    assert "Preference-Applied" not in resp.headers
    location = resp.headers["Location"]
    asked = resp.json()
    assert asked["status"] == "awaiting_approval"
    assert asked["approval"]["tool"] == "files.delete"
    # No wait while it awaits a person: ?wait returns at once.
    assert client.get(location, params={"wait": 30}, headers=auth).json() == asked
    body = {"call_id": asked["approval"]["call_id"], "approve": True}
    assert client.post(f"{location}/approval", json=body).status_code == 401
    # An approval names the call it decides on.
    unnamed = client.post(f"{location}/approval", json={"approve": True}, headers=auth)
    assert (unnamed.status_code, unnamed.json()["code"]) == (422, "invalid_input")
    approved = client.post(f"{location}/approval", json=body, headers=auth)
    assert approved.status_code == 202
    assert approved.headers["Location"] == location
    assert approved.json()["status"] == "pending"
    # Sent again: the same answer.
    again = client.post(f"{location}/approval", json=body, headers=auth)
    assert (again.status_code, again.json()) == (202, approved.json())
    denied = client.post(f"{location}/approval", json={**body, "approve": False}, headers=auth)
    assert (denied.status_code, denied.json()["code"]) == (409, "approval_stale")
    done = client.get(location, params={"wait": 5}, headers=auth).json()
    assert done["response"]["content"] == "deleted"
    [record] = client.get("/chat/alice/calls", headers=auth).json()["calls"]
    # No label: the key's hash names it, never the key.
    identity = "key:" + hashlib.sha256(b"k1").hexdigest()[:12]
    assert record["tool_calls"][0]["approved_by"] == identity


def test_once_a_key_is_an_approver_only_approvers_approve(with_approvers: Twins) -> None:
    client, _ = with_approvers
    location, asked = paused_turn(client)
    approval = asked["approval"]
    assert isinstance(approval, dict)
    body = {"call_id": approval["call_id"], "approve": True, "note": "mine"}
    # The key that sent the turn, and an admin key, are no approvers: refused, nothing decided.
    for key in ("k1", "k-admin"):
        refused = client.post(
            f"{location}/approval", json=body, headers={"authorization": f"Bearer {key}"}
        )
        assert (refused.status_code, refused.json()["code"]) == (403, "approver_required"), key
    assert client.get(location, headers=BY_K1).json() == asked
    ops = {"authorization": "Bearer k-ops"}
    assert client.post(f"{location}/approval", json=body, headers=ops).status_code == 202
    client.get(location, params={"wait": 5}, headers=BY_K1)
    [record] = client.get("/chat/alice/calls", headers=BY_K1).json()["calls"]
    # The approver's label, not the key.
    assert record["tool_calls"][0]["approved_by"] == "ops"


def test_an_approver_key_approves_the_turns_it_sends() -> None:
    for client, _ in keyed_app({"k-ops": {"users": "alice", "label": "ops", "approver": True}}):
        ops = {"authorization": "Bearer k-ops"}
        resp = client.post("/chat/alice", json={"content": "delete a"}, headers=ops)
        body = {"call_id": resp.json()["approval"]["call_id"], "approve": True}
        assert (
            client.post(f"{resp.headers['Location']}/approval", json=body, headers=ops).status_code
            == 202
        )


def test_a_streamed_turn_that_waits_for_approval_is_the_same_202(twins: Twins) -> None:
    client, _ = twins
    client.app.state.deps.responder = ApprovalResponder()  # type: ignore[attr-defined]
    resp = client.post("/chat/user1/stream", json={"content": "delete a"})
    assert resp.status_code == 202, resp.text
    assert resp.headers["Location"] == "/chat/user1/turns/1"
    assert resp.json()["status"] == "awaiting_approval"


def test_an_approval_in_an_agents_thread_answers_with_its_location(keyed: Twins) -> None:
    client, _ = keyed
    body = {"content": "delete a", "agent": "support"}
    resp = client.post("/chat/alice", json=body, headers=BY_K1)
    assert resp.status_code == 202, resp.text
    location = resp.headers["Location"]
    assert location == "/chat/alice/turns/1?agent=support"
    call_id = resp.json()["approval"]["call_id"]
    path, query = location.split("?")
    approved = client.post(
        f"{path}/approval?{query}", json={"call_id": call_id, "approve": True}, headers=BY_K1
    )
    assert (approved.status_code, approved.headers["Location"]) == (202, location)
    done = client.get(f"{location}&wait=5", headers=BY_K1).json()
    assert done["response"]["content"] == "deleted"
    # The session's own thread has no turn of it.
    assert client.get("/chat/alice/turns/1", headers=BY_K1).status_code == 404
