"""GET /metrics on the in-memory twin: each series moves when what it counts happens."""

from __future__ import annotations

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from agent_actors.streams.relay import RedisRelay
from tests.unit.api.test_subscription import TOKEN, cloud_event
from tests.unit.llm.fake_openai import FakeModel, message, streamed
from tests.unit.twins import LocalActors

Twins = tuple[TestClient, LocalActors]
MODEL = "m"  # the fake model's settings


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = client.get("/metrics")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
    }


class Watch:
    """The metrics before an action, and how much each one moved after it."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.before = scrape(client)

    def moved(self, name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return scrape(self.client).get(key, 0.0) - self.before.get(key, 0.0)


@pytest.fixture
def client(twins: Twins) -> TestClient:
    return twins[0]


def use_model(client: TestClient, model: FakeModel) -> None:
    client.app.state.deps.responder = model.responder(client.app.state.streams)  # type: ignore[attr-defined]


def test_turns_are_counted_by_outcome_and_timed(client: TestClient) -> None:
    watch = Watch(client)
    assert client.post("/chat/m1", json={"content": "hi"}).is_success
    headers = {"Idempotency-Key": "k1"}
    for _ in range(2):
        assert client.post("/chat/m1", json={"content": "again"}, headers=headers).is_success
    assert client.post("/chat/m1", json={"content": ""}).status_code == 422  # never a turn
    assert watch.moved("agent_actors_turns_total", outcome="ok") == 2
    assert watch.moved("agent_actors_turns_total", outcome="replayed") == 1
    assert watch.moved("agent_actors_turn_seconds_count") == 3
    assert watch.moved("agent_actors_turns_total", outcome="invalid_input") == 0


def test_model_calls_tokens_and_errors_are_counted(client: TestClient) -> None:
    watch = Watch(client)
    use_model(client, FakeModel(streamed(["Hel", "lo"])))
    with client.stream("POST", "/chat/m2/stream", json={"content": "hi"}) as resp:
        assert resp.status_code == 200
        resp.read()
    use_model(client, FakeModel(httpx.Response(400, json={"error": {"message": "bad"}})))
    assert client.post("/chat/m2", json={"content": "hi"}).status_code == 502
    use_model(client, FakeModel(message(""), message(""), message(""), message("")))
    assert client.post("/chat/m2", json={"content": "hi"}).status_code == 502
    assert watch.moved("agent_actors_model_calls_total", model=MODEL, status="ok") == 1 + 3
    assert watch.moved("agent_actors_model_calls_total", model=MODEL, status="error") == 1
    # The same tokens the call records show (a failed turn's calls are recorded too).
    records = client.get("/chat/m2/calls").json()["calls"]
    assert len(records) == 5
    for direction in ("in", "out"):
        tokens = sum(r[f"tokens_{direction}"] or 0 for r in records)
        assert tokens > 0
        moved = watch.moved("agent_actors_model_tokens_total", model=MODEL, direction=direction)
        assert moved == tokens
    assert watch.moved("agent_actors_model_errors_total", kind="responder_error") == 1
    assert watch.moved("agent_actors_model_errors_total", kind="invalid_answer") == 3
    assert watch.moved("agent_actors_turns_total", outcome="responder_error") == 2


def test_outbox_pending_follows_failed_publishes(client: TestClient) -> None:
    publisher = client.app.state.deps.publisher  # type: ignore[attr-defined]
    watch = Watch(client)
    publisher.failing = True
    assert client.post("/chat/m3", json={"content": "one"}).is_success
    assert client.post("/chat/m3", json={"content": "two"}).is_success
    assert watch.moved("agent_actors_outbox_pending") == 2
    publisher.failing = False
    assert client.post("/chat/m3", json={"content": "three"}).is_success
    assert watch.moved("agent_actors_outbox_pending") == 0


def test_memory_lag_and_dead_letters_are_counted(client: TestClient) -> None:
    watch = Watch(client)
    assert client.post("/chat/m4", json={"content": "one"}).is_success
    published = client.app.state.deps.publisher.published  # type: ignore[attr-defined]
    body = cloud_event(published[-1].model_dump(mode="json"))
    assert client.post("/subscribe", json=body, headers=TOKEN).json() == {"status": "SUCCESS"}
    assert client.post("/subscribe", json=body, headers=TOKEN).json() == {"status": "SUCCESS"}
    resp = client.post("/subscribe/dead-letter", json=body, headers=TOKEN)
    assert resp.json() == {"status": "SUCCESS"}
    junk = cloud_event({"junk": True})
    assert client.post("/subscribe/dead-letter", json=junk, headers=TOKEN).is_success
    # The duplicate is not observed: the lag is of applied turns.
    assert watch.moved("agent_actors_memory_lag_seconds_count") == 1
    assert watch.moved("agent_actors_dead_letters_total", kind="turn") == 1
    assert watch.moved("agent_actors_dead_letters_total", kind="unparsed") == 1


def test_no_series_names_a_user(client: TestClient) -> None:
    assert client.post("/chat/secret-user-id", json={"content": "private words"}).is_success
    text = client.get("/metrics").text
    assert "secret-user-id" not in text
    assert "private words" not in text
    assert "agent_actors_active_streams" in text


async def test_relay_events_past_the_outbox_bound_are_dropped_and_counted(
    client: TestClient,
) -> None:
    # Redis slow or down: nothing drains the relay's outbox (no sender runs here).
    watch = Watch(client)
    relay = RedisRelay("redis://127.0.0.1:1", lambda _id, _event: None, outbox_max=2)
    for n in range(5):
        relay.send("s1", {"kind": "token", "text": str(n)})
    assert relay.waiting == 2
    assert watch.moved("agent_actors_stream_relay_dropped_total") == 3
    await relay.close()
