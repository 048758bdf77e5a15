"""The real stack itself: daprd's actor API, Dapr's key layout in Redis, metadata."""

from __future__ import annotations

import json

from agent_actors.stack.health import ACTOR_TYPES
from tests.integration.stack_fixture import RunningStack


def test_actor_method_through_daprd_http_api_stores_state_under_dapr_keys(
    stack: RunningStack, user: str
) -> None:
    resp = stack.daprd.post(
        f"/v1.0/actors/ChatAgent/{user}/method/ProcessMessage",
        json={"role": "user", "content": "through daprd"},
    )
    assert resp.status_code == 200, resp.text
    reply = resp.json()["ok"]
    assert reply["role"] == "assistant"
    assert "Got your message: through daprd" in reply["content"]

    app_id = stack.settings.dapr.app_id
    meta = stack.redis.hget(f"{app_id}||ChatAgent||{user}||meta", "data")
    assert meta is not None, stack.redis.keys(f"*{user}*")
    assert json.loads(meta)["turns"] == 1
    page = json.loads(stack.redis.hget(f"{app_id}||ChatAgent||{user}||history-0", "data") or "{}")
    assert [e["role"] for e in page["entries"]] == ["user", "assistant"]
    assert page["entries"][0]["content"] == "through daprd"
    assert stack.redis.exists(f"{app_id}||ResponseAgent||response-{user}||stats")


def test_metadata_lists_the_registered_actor_types(stack: RunningStack) -> None:
    meta = stack.daprd.get("/v1.0/metadata").json()
    assert meta["id"] == stack.settings.dapr.app_id
    runtime = meta["actorRuntime"]
    assert runtime["runtimeStatus"] == "RUNNING"
    assert {a["type"] for a in runtime["activeActors"]} >= set(ACTOR_TYPES)
    assert {c["name"] for c in meta["components"]} >= {"statestore", "daca-pubsub"}
