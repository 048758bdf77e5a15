"""Memory's repair routes on the in-memory twins: rebuild, dead letters, replay."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from agent_actors.main import create_app
from agent_actors.settings import AuthSettings, Settings
from agent_actors.store.dead_letters import InMemoryStateStore
from tests.unit.twins import LocalActors, make_deps

Twins = tuple[TestClient, LocalActors]
SIDECAR = {"dapr-api-token": "unit-token"}
SECRET = "what I told nobody"


def turns(client: TestClient, user: str, count: int) -> list[Any]:
    """``count`` committed turns; their events are published to no one (all lost)."""
    for i in range(count):
        resp = client.post(f"/chat/{user}", json={"role": "user", "content": f"{SECRET} {i}"})
        assert resp.status_code == 200, resp.text
    return list(client.app.state.deps.publisher.published)  # type: ignore[attr-defined]


def dead_letter(client: TestClient, data: object, event_id: str = "ev") -> dict[str, Any]:
    body = {"id": event_id, "type": "com.dapr.event.sent", "topic": "user-chat", "data": data}
    answer: dict[str, Any] = client.post(
        "/subscribe/dead-letter", json=body, headers=SIDECAR
    ).json()
    return answer


def tail(client: TestClient, user: str, count: int) -> list[Any]:
    page = client.get(f"/chat/{user}/history", params={"limit": count}).json()
    return list(page["history"])


def test_rebuild_answers_the_window_of_the_history(twins: Twins) -> None:
    client, _ = twins
    turns(client, "alice", 4)
    assert client.get("/memory/alice").json()["memory"] == []  # every event was lost
    resp = client.post("/memory/alice/rebuild")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {
        "memory": tail(client, "alice", 3),
        "last_seq": 4,
        "turns": 4,
        "applied": 0,
    }
    assert client.get("/memory/alice").json()["memory"] == tail(client, "alice", 3)


def test_dead_letters_are_listed_without_content_and_replayed_from_the_history(
    twins: Twins,
) -> None:
    client, _ = twins
    events = turns(client, "alice", 3)
    for event in events[1:]:
        assert dead_letter(client, event.model_dump(mode="json"), f"ev-{event.seq}") == {
            "status": "SUCCESS"
        }
    view = client.get("/memory/alice/dead-letters")
    assert view.status_code == 200, view.text
    assert SECRET not in view.text
    body = view.json()
    assert [(d["seq"], d["event_id"], d["replayed_at"]) for d in body["dead_letters"]] == [
        (2, "ev-2", None),
        (3, "ev-3", None),
    ]
    assert (body["total"], body["last_seq"], body["turns"]) == (2, 0, 3)

    replay = client.post("/memory/alice/dead-letters/replay").json()
    assert replay["replayed"] == [2, 3]
    assert (replay["last_seq"], replay["turns"]) == (3, 3)
    assert replay["memory"] == tail(client, "alice", 3)
    after = client.get("/memory/alice/dead-letters").json()
    assert all(d["replayed_at"] for d in after["dead_letters"])
    again = client.post("/memory/alice/dead-letters/replay").json()
    assert again["replayed"] == []
    assert again["memory"] == replay["memory"]


def test_unparseable_dead_letters_keep_why_not_what(twins: Twins) -> None:
    client, _ = twins
    assert dead_letter(client, {"user_id": "alice", "seq": SECRET}) == {"status": "SUCCESS"}
    assert dead_letter(client, SECRET) == {"status": "SUCCESS"}
    resp = client.get("/events/dead-letters")
    assert resp.status_code == 200, resp.text
    assert SECRET not in resp.text
    letters = resp.json()["letters"]
    assert "seq: int_parsing" in letters[0]["reason"]
    assert letters[0]["topic"] == "user-chat"
    assert len(letters) == 2


def test_a_dead_letter_that_cannot_be_recorded_is_retried(twins: Twins) -> None:
    client, _ = twins
    events = turns(client, "alice", 1)
    store = client.app.state.deps.dead_letters._store  # type: ignore[attr-defined]
    assert isinstance(store, InMemoryStateStore)
    store.failing = True
    assert dead_letter(client, events[0].model_dump(mode="json")) == {"status": "RETRY"}
    assert client.get("/events/stats").json()["dead_letters"] == 0
    store.failing = False
    assert dead_letter(client, events[0].model_dump(mode="json")) == {"status": "SUCCESS"}
    assert client.get("/events/stats").json()["dead_letters"] == 1


def test_memory_routes_check_the_user_id(twins: Twins) -> None:
    client, _ = twins
    for method, path in (
        ("POST", "/memory/bad|id/rebuild"),
        ("GET", "/memory/bad|id/dead-letters"),
        ("POST", "/memory/bad|id/dead-letters/replay"),
    ):
        assert client.request(method, path).status_code == 422


def test_with_api_keys_memory_routes_are_the_users_and_unreadable_letters_the_admins() -> None:
    keys = {"k1": "alice", "admin": "*"}
    settings = Settings(auth=AuthSettings(api_keys=keys, app_api_token="unit-token"))
    with TestClient(create_app(settings)) as client:
        client.app.state.deps = make_deps(settings)[0]  # type: ignore[attr-defined]
        alice, admin = {"authorization": "Bearer k1"}, {"authorization": "Bearer admin"}
        for method, path in (
            ("POST", "/memory/{}/rebuild"),
            ("GET", "/memory/{}/dead-letters"),
            ("POST", "/memory/{}/dead-letters/replay"),
        ):
            assert client.request(method, path.format("alice")).status_code == 401
            assert client.request(method, path.format("bob"), headers=alice).status_code == 403
            assert client.request(method, path.format("alice"), headers=alice).status_code == 200
        assert client.get("/events/dead-letters", headers=alice).status_code == 403
        assert client.get("/events/dead-letters", headers=admin).status_code == 200
