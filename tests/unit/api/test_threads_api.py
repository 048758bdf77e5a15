"""A session's agent threads on the in-memory twin: ``?agent=`` on the user routes, the
registry, DELETE of one thread or of the whole session, the session listing."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from agent_actors.store.session_threads import registry_key
from tests.unit.twins import LocalActors

Twins = tuple[TestClient, LocalActors]
SUPPORT = {"agent": "support"}


def post(client: TestClient, user: str, content: str, **extra: Any) -> httpx.Response:
    body: dict[str, Any] = {"role": "user", "content": content}
    resp = client.post(f"/chat/{user}", json={**body, **extra.pop("body", {})}, **extra)
    return resp


def registry(client: TestClient, session: str) -> Any:
    store = client.app.state.deps.threads._store  # type: ignore[attr-defined]
    return store.items.get(registry_key(session), (None, 0))[0]


@pytest.mark.parametrize(
    "path",
    [
        "/chat/s1",
        "/chat/s1/history",
        "/chat/s1/calls",
        "/chat/s1/export",
        "/chat/s1/turns/1",
        "/memory/s1",
        "/memory/s1/dead-letters",
        "/response/s1/count",
    ],
)
def test_every_user_route_checks_its_agent(twins: Twins, path: str) -> None:
    client, _ = twins
    bad = client.get(path, params={"agent": "no/such"})
    assert (bad.status_code, bad.json()["code"]) == (422, "invalid_input")
    unknown = client.get(path, params={"agent": "ghost"})
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_agent")
    for method, target in (("DELETE", "/chat/s1"), ("POST", "/memory/s1/rebuild")):
        resp = client.request(method, target, params={"agent": "ghost"})
        assert (resp.status_code, resp.json()["code"]) == (422, "unknown_agent")


def test_the_agent_routes_read_the_agents_thread(twins: Twins) -> None:
    client, _ = twins
    for i in range(2):
        assert post(client, "s2", f"support {i}", body=SUPPORT).status_code == 200
    assert post(client, "s2", "plain").status_code == 200
    assert client.get("/response/s2/count").json() == {"count": 1}
    assert client.get("/response/s2/count", params=SUPPORT).json() == {"count": 2}
    # (The offline responder keeps no call records: the calls route is checked on the stub.)
    assert client.get("/chat/s2/calls", params=SUPPORT).json()["total"] == 0
    assert client.get("/chat/s2/turns/2", params=SUPPORT).json()["status"] == "done"
    assert client.get("/chat/s2/turns/2").status_code == 404
    export = client.get("/chat/s2/export", params=SUPPORT).text
    assert "support 1" in export
    assert "plain" not in export
    # The default named is the session's own thread.
    named = client.get("/chat/s2/history", params={"agent": "assistant"}).json()
    assert named == client.get("/chat/s2/history").json()
    assert registry(client, "s2") == {"agents": ["support"]}


def test_a_long_turn_of_an_agent_is_polled_at_its_location(twins: Twins) -> None:
    client, _ = twins
    headers = {"Prefer": "respond-async"}
    resp = post(client, "s3", "later", body=SUPPORT, headers=headers)
    assert resp.status_code == 202, resp.text
    assert resp.headers["Location"] == "/chat/s3/turns/1?agent=support"
    # (params= would replace the Location's query)
    done = client.get(resp.headers["Location"] + "&wait=5").json()
    assert done["status"] == "done"
    assert done["response"]["content"].startswith("[support] ")
    # The default's thread keeps the tutorial's plain location.
    plain = post(client, "s3", "later", headers=headers, body={"agent": "assistant"})
    assert plain.headers["Location"] == "/chat/s3/turns/1"


def test_an_idempotency_key_is_a_threads_own(twins: Twins) -> None:
    client, _ = twins
    key = {"Idempotency-Key": "k1"}
    first = post(client, "s4", "once", body=SUPPORT, headers=key)
    again = post(client, "s4", "once", body=SUPPORT, headers=key)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    # The same key in the default's thread is a new turn there.
    plain = post(client, "s4", "once", headers=key)
    assert "Idempotent-Replayed" not in plain.headers
    assert plain.json()["response"]["content"].startswith("Memory: ")


def test_delete_without_agent_erases_every_thread_and_the_registry(twins: Twins) -> None:
    client, actors = twins
    post(client, "s5", "a", body=SUPPORT)
    post(client, "s5", "b")
    assert registry(client, "s5") == {"agents": ["support"]}
    assert client.delete("/chat/s5").status_code == 204
    assert registry(client, "s5") is None
    for thread in ("s5", "s5~support"):
        chat = actors.actor("ChatAgent", thread)._state_manager._mock_state
        assert chat == {}, thread
    summary = client.get("/chat/s5").json()
    assert summary["agents"] == [{"agent": "assistant", "turns": 0, "last_activity": None}]
    # A new first turn registers the thread again.
    post(client, "s5", "c", body=SUPPORT)
    assert registry(client, "s5") == {"agents": ["support"]}
    assert client.delete("/chat/s5", params=SUPPORT).status_code == 204
    assert registry(client, "s5") is None


def test_sessions_lists_each_thread_under_its_session(twins: Twins) -> None:
    client, _ = twins
    post(client, "s6", "a")
    post(client, "s6", "b", body=SUPPORT)
    listed = client.get("/sessions").json()["sessions"]
    assert sorted((s["id"], s["agent"] or "") for s in listed) == [("s6", ""), ("s6", "support")]
    first = client.get("/sessions", params={"limit": 1}).json()
    rest = client.get("/sessions", params={"after": first["next_after"]}).json()["sessions"]
    assert len(first["sessions"] + rest) == 2
