from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient

from agent_actors.errors import ActorUnavailable
from tests.unit.twins import LocalActors

Twins = tuple[TestClient, LocalActors]
TOKEN = {"dapr-api-token": "unit-token"}


def cloud_event(data: object) -> dict[str, object]:
    return {"id": "1", "specversion": "1.0", "type": "com.dapr.event.sent", "data": data}


def event(seq: int, user: str = "user1") -> dict[str, object]:
    return {
        "user_id": user,
        "seq": seq,
        "input": {"role": "user", "content": f"q{seq}"},
        "output": {"role": "assistant", "content": f"a{seq}"},
        "timestamp": datetime.now(UTC).isoformat(),
    }


def test_valid_events_succeed_once_and_in_order(twins: Twins) -> None:
    client, _ = twins
    for content in ("m1", "m2"):
        assert client.post("/chat/user1", json={"role": "user", "content": content}).is_success
    published = client.app.state.deps.publisher.published  # type: ignore[attr-defined]
    for seq in (2, 1, 1):  # 2 first: turn 1 is read from the history, then 1 is a duplicate
        body = cloud_event(published[seq - 1].model_dump(mode="json"))
        assert client.post("/subscribe", json=body, headers=TOKEN).json() == {"status": "SUCCESS"}
    memory = client.get("/memory/user1").json()["memory"]
    assert memory == client.get("/chat/user1/history", params={"limit": 3}).json()["history"]


def test_an_event_ahead_of_the_history_is_retried_never_skipped_to(twins: Twins) -> None:
    client, _ = twins
    resp = client.post("/subscribe", json=cloud_event(event(2)), headers=TOKEN)
    assert resp.json() == {"status": "RETRY"}
    assert client.get("/memory/user1").json()["memory"] == []


def test_malformed_events_are_dropped_not_succeeded(twins: Twins) -> None:
    client, _ = twins
    for body in (cloud_event({"seq": 1}), cloud_event(event(1, user="bad|user")), ["x"]):
        assert client.post("/subscribe", json=body, headers=TOKEN).json() == {"status": "DROP"}
    assert client.get("/events/stats").json()["dropped"] == 3


def test_an_unreachable_memory_actor_means_retry(twins: Twins) -> None:
    from agent_actors.errors import ActorUnavailable

    client, actors = twins

    class Down:
        async def UpdateMemory(self, _event: object) -> object:
            raise ActorUnavailable(cause="daprd did not answer")

    actors.create = lambda *_a: Down()  # type: ignore[method-assign]
    resp = client.post("/subscribe", json=cloud_event(event(1)), headers=TOKEN)
    assert resp.json() == {"status": "RETRY"}


def bulk(*events: object) -> dict[str, object]:
    """daprd's bulk delivery (``bulkSubscribe``): entries ``e0``, ``e1``, ... in order."""
    entries = [
        {"entryId": f"e{i}", "event": e, "contentType": "application/cloudevents+json"}
        for i, e in enumerate(events)
    ]
    return {"id": "b", "type": "com.dapr.event.sent.bulk", "topic": "user-chat", "entries": entries}


def test_a_bulk_delivery_answers_each_entry_as_its_own_delivery_would_be(twins: Twins) -> None:
    client, _ = twins
    assert client.post("/chat/user1", json={"role": "user", "content": "m1"}).is_success
    published = client.app.state.deps.publisher.published  # type: ignore[attr-defined]
    applied = cloud_event(published[0].model_dump(mode="json"))
    body = bulk(applied, cloud_event(event(2, user="user2")), cloud_event({"seq": 1}), applied)
    resp = client.post("/subscribe", json=body, headers=TOKEN)
    assert resp.status_code == 200
    # user1's turn applied (then a duplicate: SUCCESS again), user2's is ahead of its history
    # (RETRY, only that entry), the malformed one is dropped.
    assert resp.json() == {
        "statuses": [
            {"entryId": "e0", "status": "SUCCESS"},
            {"entryId": "e1", "status": "RETRY"},
            {"entryId": "e2", "status": "DROP"},
            {"entryId": "e3", "status": "SUCCESS"},
        ]
    }
    assert len(client.get("/memory/user1").json()["memory"]) == 2
    stats = client.get("/events/stats").json()
    assert (stats["received"], stats["retried"], stats["dropped"]) == (4, 1, 1)


def test_dead_letters_are_counted(twins: Twins) -> None:
    client, _ = twins
    resp = client.post("/subscribe/dead-letter", json=cloud_event({"junk": True}), headers=TOKEN)
    assert resp.json() == {"status": "SUCCESS"}
    stats = client.get("/events/stats").json()
    assert stats["dead_letters"] == 1
    assert stats["recent_dead_letters"][0]["id"] == "1"
    assert "junk" not in str(stats)  # ids and metadata only, never the event's content


def test_a_delivery_that_is_not_json_is_dropped_with_a_json_answer(twins: Twins) -> None:
    # /subscribe is served before FastAPI's routing (EventDeliveries): it must still answer
    # every body with one of Dapr's statuses, as JSON.
    client, _ = twins
    for raw in (b"{not json", b"\xff\xfe", b""):
        resp = client.post("/subscribe", content=raw, headers=TOKEN)
        assert resp.status_code == 200
        assert resp.headers["content-type"] == "application/json"
        assert resp.json() == {"status": "DROP"}
    # other methods on the path still reach the router (which has no such route)
    assert client.get("/subscribe", headers=TOKEN).status_code in (404, 405)


def test_a_dead_letter_whose_conversation_cannot_be_read_is_retried(twins: Twins) -> None:
    """Whether its conversation was erased is read from ChatAgent's saved state: daprd not
    answering is one of Dapr's statuses (RETRY), never a 503 (found in review)."""
    client, _ = twins

    async def unreachable(*_key: str) -> tuple[bool, object]:
        raise ActorUnavailable("the actor runtime could not complete the call")

    client.app.state.deps.saved_state = unreachable  # type: ignore[attr-defined]
    resp = client.post("/subscribe/dead-letter", json=cloud_event(event(1)), headers=TOKEN)
    assert resp.status_code == 200
    assert resp.json() == {"status": "RETRY"}
    assert client.get("/events/stats").json()["dead_letters"] == 0


def test_a_dead_letter_of_an_erased_conversation_is_dropped(twins: Twins) -> None:
    client, _ = twins

    async def nothing_saved(*_key: str) -> tuple[bool, object]:
        return False, None

    client.app.state.deps.saved_state = nothing_saved  # type: ignore[attr-defined]
    resp = client.post("/subscribe/dead-letter", json=cloud_event(event(1)), headers=TOKEN)
    assert resp.json() == {"status": "SUCCESS"}
    assert client.get("/events/stats").json()["dead_letters"] == 0


def test_a_task_its_caller_gave_up_on_long_ago_is_not_run(twins: Twins) -> None:
    import time

    client, _ = twins
    task = {
        "task_id": "t-late",
        "session": "user1",
        "delegate": "support",
        "text": "refund?",
        "caller": "assistant",
        "caller_seq": 1,
        "chain": ["assistant"],
        "deadline": time.time() - 60,
    }
    resp = client.post("/subscribe/tasks", json=cloud_event(task), headers=TOKEN)
    assert resp.json() == {"status": "SUCCESS"}
    # Nothing of the delegate's thread was made: the session stays as it was.
    history = client.get("/chat/user1/history", params={"agent": "support"}).json()
    assert history["total"] == 0
    fresh = {**task, "task_id": "t-live", "deadline": time.time() + 30}
    resp = client.post("/subscribe/tasks", json=cloud_event(fresh), headers=TOKEN)
    assert resp.json() == {"status": "SUCCESS"}
    history = client.get("/chat/user1/history", params={"agent": "support"}).json()
    assert history["total"] == 2


def test_one_entry_failing_unexpectedly_is_retried_alone(twins) -> None:
    """An entry whose Memory call raises something other than a domain error is that entry's
    RETRY, not a 500 for the whole batch (daprd would deliver every entry again)."""
    client, actors = twins
    real = actors.create

    class Broken:
        async def UpdateMemory(self, _event: object) -> object:
            raise RuntimeError("a bug in one actor")

    actors.create = lambda kind, actor_id, *a: (  # type: ignore[method-assign]
        Broken() if actor_id == "user2" else real(kind, actor_id, *a)
    )
    client = TestClient(client.app, raise_server_exceptions=False)
    body = bulk(cloud_event(event(1, user="user1")), cloud_event(event(1, user="user2")))
    resp = client.post("/subscribe", json=body, headers=TOKEN)
    assert resp.status_code == 200, resp.text
    assert resp.json()["statuses"] == [
        {"entryId": "e0", "status": "SUCCESS"},
        {"entryId": "e1", "status": "RETRY"},
    ]


def test_a_deeply_nested_delivery_is_dropped_not_a_500(twins) -> None:
    client, _ = twins
    client = TestClient(client.app, raise_server_exceptions=False)
    resp = client.post("/subscribe", content=b"[" * 100_000, headers=TOKEN)
    assert (resp.status_code, resp.json()) == (200, {"status": "DROP"})
