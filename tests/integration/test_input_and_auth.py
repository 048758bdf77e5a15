"""Guarantees 8 and 9 on the real stack: clear 4xx for bad input; sidecar-only routes; API
keys, which need the app token too."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent_actors.api.auth import NO_APP_TOKEN
from devstack import private
from devstack.supervisor import Stack
from tests.integration.chat_client import history
from tests.integration.stack_fixture import TEST_TOKEN, RunningStack, start_stack


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
        f"/actors/ResponseAgent/{user}/method/GetMessageCount",
        headers={"dapr-api-token": TEST_TOKEN},
    )
    assert resp.status_code == 200
    assert resp.json() == {"ok": 0}


# -- API keys (AGENT_ACTORS_AUTH__API_KEYS) ---------------------------------------------------

SECRET = "a message nobody else may read"


def _app_without_token(extra_env: dict[str, str]) -> subprocess.Popen[str]:
    """The stack's app command (stack/supervisor.py), with API keys and no usable token."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("APP_API_TOKEN", "AGENT_ACTORS_AUTH__APP_API_TOKEN")
    }
    env.update(AGENT_ACTORS_AUTH__API_KEYS=json.dumps({"k": "*"}), **extra_env)
    # The very command the stack runs (a free port; nothing else of the stack is started).
    stack = Stack(private.private_settings(Path(tempfile.gettempdir())))
    argv = stack._app(stack.pairs[0]).argv
    return subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


@pytest.mark.parametrize("extra_env", [{}, {"APP_API_TOKEN": ""}], ids=["unset", "empty"])
def test_api_keys_without_an_app_token_stop_the_app_with_one_sentence(
    extra_env: dict[str, str],
) -> None:
    proc = _app_without_token(extra_env)
    try:
        # Generous: an app that refuses exits as soon as it has imported; one that starts
        # serves until it is stopped.
        _, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail("the app started with API keys and no app token")
    assert proc.returncode == 1
    assert stderr.strip().splitlines() == [NO_APP_TOKEN]


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningStack, str]]:
    """A stack of its own with API keys: `alice-…` has a key, `admin` is bound to every user."""
    alice = f"alice-{uuid.uuid4().hex[:8]}"
    keys = {"alice-key": alice, "admin-key": "*"}
    env = {"AGENT_ACTORS_AUTH__API_KEYS": json.dumps(keys)}
    for running in start_stack(tmp_path_factory.mktemp("keyed"), extra_env=env):
        yield running, alice


def _bearer(key: str | bytes) -> dict[str, str | bytes]:
    return {"authorization": b"Bearer " + key if isinstance(key, bytes) else f"Bearer {key}"}


def test_keys_open_only_their_users_conversations(keyed: tuple[RunningStack, str]) -> None:
    stack, alice = keyed
    body = {"role": "user", "content": "hello"}
    assert stack.app.post(f"/chat/{alice}", json=body).status_code == 401
    assert stack.app.post(f"/chat/{alice}", json=body, headers=_bearer("alice-key")).is_success
    assert stack.app.post("/chat/bob", json=body, headers=_bearer("alice-key")).status_code == 403


@pytest.mark.parametrize(
    ("headers", "status"),
    [({}, 401), (_bearer("nope"), 401), (_bearer("alice-key"), 403), (_bearer("admin-key"), 200)],
)
def test_event_stats_need_an_admin_key(
    keyed: tuple[RunningStack, str], headers: dict[str, str | bytes], status: int
) -> None:
    stack, _ = keyed
    assert stack.app.get("/events/stats", headers=headers).status_code == status


@pytest.mark.parametrize(
    "key", ["kéy".encode(), "kéy".encode("latin-1"), "鍵".encode(), b"\xff\xfe"], ids=repr
)
def test_a_non_ascii_bearer_value_is_a_401(keyed: tuple[RunningStack, str], key: bytes) -> None:
    stack, alice = keyed
    for path in (f"/chat/{alice}/history", "/events/stats"):
        resp = stack.app.get(path, headers=_bearer(key))
        assert resp.status_code == 401, (path, resp.text)
        assert resp.json()["code"] == "unauthorized"


def test_a_non_ascii_sidecar_token_is_a_401(keyed: tuple[RunningStack, str]) -> None:
    stack, _ = keyed
    for token in ("tökén".encode(), b"\xff", TEST_TOKEN.encode() + b"\xe9"):
        resp = stack.app.post("/subscribe", json={}, headers={"dapr-api-token": token})
        assert resp.status_code == 401


def test_a_forged_event_without_the_app_token_is_refused(keyed: tuple[RunningStack, str]) -> None:
    stack, alice = keyed
    forged = {
        "id": "forged",
        "data": {
            "user_id": alice,
            "seq": 10**9,
            "input": {"role": "user", "content": "forged"},
            "output": {"role": "assistant", "content": "forged"},
            "timestamp": "2026-01-01T00:00:00Z",
        },
    }
    for headers in ({}, {"dapr-api-token": "guess"}, _bearer("admin-key")):
        assert stack.app.post("/subscribe", json=forged, headers=headers).status_code == 401
    held = stack.app.get(f"/memory/{alice}", headers=_bearer("admin-key")).json()["memory"]
    assert "forged" not in str(held)


def test_event_stats_never_show_message_content(keyed: tuple[RunningStack, str]) -> None:
    stack, alice = keyed
    dead = {
        "id": "dead-1",
        "topic": "user-chat",
        "data": {"user_id": alice, "seq": 3, "input": {"role": "user", "content": SECRET}},
    }
    sidecar = {"dapr-api-token": TEST_TOKEN}
    assert stack.app.post("/subscribe/dead-letter", json=dead, headers=sidecar).is_success
    resp = stack.app.get("/events/stats", headers=_bearer("admin-key"))
    assert resp.status_code == 200
    assert SECRET not in resp.text
    assert "dead-1" in [d.get("id") for d in resp.json()["recent_dead_letters"]]
