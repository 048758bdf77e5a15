"""Guarantees 8 and 9 on the real stack: clear 4xx for bad input; sidecar-only routes."""

from __future__ import annotations

import pytest

from tests.integration.chat_client import history
from tests.integration.stack_fixture import TEST_TOKEN, RunningStack


@pytest.mark.parametrize(
    ("user_id", "body", "status", "code"),
    [
        ("bad|id", {"content": "hi"}, 422, "invalid_user_id"),
        ("x" * 65, {"content": "hi"}, 422, "invalid_user_id"),
        ("-starts-with-dash", {"content": "hi"}, 422, "invalid_user_id"),
        ("ok", {"content": ""}, 422, "invalid_input"),
        ("ok", {"content": "   "}, 422, "invalid_input"),
        ("ok", {"content": "x" * 8001}, 413, "content_too_large"),
        ("ok", {"role": "assistant", "content": "hi"}, 422, "invalid_input"),
        ("ok", {"nope": 1}, 422, "invalid_input"),
    ],
)
def test_bad_input_gets_a_4xx_with_a_reason(
    stack: RunningStack, user_id: str, body: dict[str, object], status: int, code: str
) -> None:
    resp = stack.app.post(f"/chat/{user_id}", json=body)
    assert resp.status_code == status, resp.text
    assert resp.json()["code"] == code
    assert resp.json()["detail"]


def test_bad_input_writes_nothing(stack: RunningStack, user: str) -> None:
    assert stack.app.post(f"/chat/{user}", json={"content": ""}).status_code == 422
    assert history(stack.app, user)["total"] == 0
    assert stack.redis.keys(f"*{user}*") == []


def test_bad_json_and_bad_paging_are_4xx(stack: RunningStack, user: str) -> None:
    resp = stack.app.post(
        f"/chat/{user}", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert resp.status_code == 422
    assert stack.app.get(f"/chat/{user}/history", params={"limit": 0}).status_code == 422
    assert stack.app.get("/memory/bad|id").status_code == 422


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/actors/ChatAgent/someone/method/ProcessMessage"),
        ("DELETE", "/actors/ChatAgent/someone"),
        ("POST", "/subscribe"),
        ("POST", "/subscribe/dead-letter"),
    ],
)
def test_sidecar_routes_need_the_app_token(stack: RunningStack, method: str, path: str) -> None:
    assert stack.app.request(method, path, json={}).status_code == 401
    wrong = stack.app.request(method, path, json={}, headers={"dapr-api-token": "wrong"})
    assert wrong.status_code == 401


def test_the_sidecar_token_opens_the_actor_route(stack: RunningStack, user: str) -> None:
    resp = stack.app.put(
        f"/actors/ResponseAgent/response-{user}/method/GetMessageCount",
        headers={"dapr-api-token": TEST_TOKEN},
    )
    assert resp.status_code == 200
    assert resp.json() == {"ok": 0}
