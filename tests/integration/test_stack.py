"""The real stack itself: daprd's actor API, Dapr's key layout in Redis, metadata."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from devstack.health import ACTOR_TYPES
from devstack.private import PrivateStack, private_stack
from tests.integration.stack_fixture import TEST_TOKEN, RunningStack


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
    assert stack.redis.exists(f"{app_id}||ResponseAgent||{user}||stats")


def test_a_count_kept_under_the_tutorials_actor_id_is_rebuilt_from_the_history(
    stack: RunningStack, user: str
) -> None:
    """An upgraded deployment: ResponseAgent's count lived under ``response-<user>``, so the
    actor of the user's own id starts with no count; it counts the committed turns."""
    for i in range(3):
        assert stack.app.post(f"/chat/{user}", json={"content": f"t{i}"}).status_code == 200
    app_id = stack.settings.dapr.app_id
    stack.redis.delete(f"{app_id}||ResponseAgent||{user}||stats")
    resp = stack.app.delete(f"/actors/ResponseAgent/{user}", headers={"dapr-api-token": TEST_TOKEN})
    assert resp.status_code == 200, resp.text  # deactivated: its cache is gone too
    assert stack.app.get(f"/response/{user}/count").json() == {"count": 3}
    assert stack.app.post(f"/chat/{user}", json={"content": "t3"}).status_code == 200
    assert stack.app.get(f"/response/{user}/count").json() == {"count": 4}


def test_metadata_lists_the_registered_actor_types(stack: RunningStack) -> None:
    meta = stack.daprd.get("/v1.0/metadata").json()
    assert meta["id"] == stack.settings.dapr.app_id
    runtime = meta["actorRuntime"]
    assert runtime["runtimeStatus"] == "RUNNING"
    assert {a["type"] for a in runtime["activeActors"]} >= set(ACTOR_TYPES)
    assert {c["name"] for c in meta["components"]} >= {"statestore", "daca-pubsub"}


@pytest.fixture(scope="module")
def tokenless(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateStack]:
    """A stack started as `make up` starts it when neither APP_API_TOKEN nor
    AGENT_ACTORS_AUTH__APP_API_TOKEN is set."""
    with private_stack(tmp_path_factory.mktemp("tokenless")) as running:
        assert running.settings.auth.app_api_token is None
        yield running


@pytest.mark.parametrize("path", ["/subscribe", "/actors/ResponseAgent/x/method/GetMessageCount"])
def test_a_stack_without_a_configured_token_still_guards_the_sidecar_routes(
    tokenless: PrivateStack, path: str
) -> None:
    with httpx.Client(base_url=tokenless.settings.app_url, timeout=60) as app:
        for method in ("POST", "PUT"):
            assert app.request(method, path, json={}).status_code == 401
            assert (
                app.request(method, path, json={}, headers={"dapr-api-token": ""}).status_code
                == 401
            )


def test_a_stack_without_a_configured_token_serves_chat_through_daprd(
    tokenless: PrivateStack, user: str
) -> None:
    with httpx.Client(base_url=tokenless.settings.app_url, timeout=60) as app:
        resp = app.post(f"/chat/{user}", json={"role": "user", "content": "hello"})
        assert resp.status_code == 200, resp.text
    daprd = httpx.post(
        f"{tokenless.settings.daprd_url}/v1.0/actors/ResponseAgent/{user}/method/GetMessageCount",
        timeout=60,
    )
    assert daprd.status_code == 200, daprd.text
    assert daprd.json() == {"ok": 1}
