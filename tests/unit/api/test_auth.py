"""Who may call what: API keys, the sidecar token, and the rule that joins them at start-up."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from agent_actors.api import auth
from agent_actors.api.auth import NO_APP_TOKEN
from agent_actors.errors import Unauthorized
from agent_actors.main import create_app
from agent_actors.settings import AuthSettings, Settings
from tests.unit.twins import make_deps

KEYS = {"k1": "alice", "admin": "*", "kéy": "alice"}
TOKEN = "unit-token"
CONTENT = "my secret question"


def test_api_keys_without_an_app_token_stop_the_app_with_one_sentence() -> None:
    with pytest.raises(SystemExit) as stopped:
        create_app(Settings(auth=AuthSettings(api_keys=KEYS)))
    assert str(stopped.value) == NO_APP_TOKEN
    # One sentence: one line, one full stop at the end.
    assert "\n" not in NO_APP_TOKEN
    assert NO_APP_TOKEN.endswith(".")
    assert re.search(r"\.\s+[A-Z]", NO_APP_TOKEN) is None


def test_an_empty_app_token_is_no_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_API_TOKEN", "")
    monkeypatch.setenv("AGENT_ACTORS_AUTH__API_KEYS", '{"k1": "alice"}')
    settings = Settings()
    assert settings.auth.app_api_token is None
    with pytest.raises(SystemExit):
        create_app(settings)
    assert AuthSettings(app_api_token="").app_api_token is None  # type: ignore[arg-type]


@pytest.fixture
def keyed() -> Iterator[TestClient]:
    settings = Settings(auth=AuthSettings(api_keys=KEYS, app_api_token=TOKEN))
    with TestClient(create_app(settings)) as client:
        client.app.state.deps = make_deps(settings)[0]  # type: ignore[attr-defined]
        yield client


@pytest.mark.parametrize(
    "value",
    [
        "Bearer nöpe".encode(),
        "Bearer nöpe".encode("latin-1"),
        "Bearer 鍵".encode(),
        b"Bearer \xff\xfe",
    ],
)
def test_a_non_ascii_bearer_value_is_a_401_not_a_500(keyed: TestClient, value: bytes) -> None:
    resp = keyed.get("/response/bob/count", headers={"authorization": value})
    assert resp.status_code == 401, resp.text
    assert resp.json()["code"] == "unauthorized"
    assert keyed.get("/events/stats", headers={"authorization": value}).status_code == 401


def test_a_non_ascii_key_matches_its_utf8_bytes(keyed: TestClient) -> None:
    headers = {"authorization": "Bearer kéy".encode()}
    assert keyed.get("/response/alice/count", headers=headers).status_code == 200


@pytest.mark.parametrize(
    ("sent", "status"),
    [("kéy".encode(), 200), ("kéy".encode("latin-1"), 401), (b"\xff", 401), ("鍵".encode(), 401)],
)
def test_keys_are_compared_as_the_bytes_sent(sent: bytes, status: int) -> None:
    # What the server hands over: the header's bytes decoded as latin-1 (the TestClient
    # re-encodes header values as UTF-8, so it cannot send these bytes as they are).
    header = "Bearer " + sent.decode("latin-1")
    keys = AuthSettings.model_validate({"api_keys": KEYS}).api_keys
    if status == 200:
        assert auth.key_users(keys, header) == {"alice"}
    else:
        with pytest.raises(Unauthorized):
            auth.key_users(keys, header)


def test_a_non_ascii_sidecar_token_is_a_401(keyed: TestClient) -> None:
    for token in ("ünit-token".encode(), b"\xff\xfe", b"unit-token" + "é".encode()):
        resp = keyed.post("/subscribe", json={}, headers={"dapr-api-token": token})
        assert resp.status_code == 401, resp.text


@pytest.mark.parametrize(
    ("header", "status"),
    [(None, 401), ("Bearer nope", 401), ("Bearer k1", 403), ("Bearer admin", 200)],
)
def test_event_stats_need_an_admin_key(keyed: TestClient, header: str | None, status: int) -> None:
    headers = {"authorization": header} if header else {}
    resp = keyed.get("/events/stats", headers=headers)
    assert resp.status_code == status, resp.text


def test_event_stats_never_show_message_content(keyed: TestClient) -> None:
    turn = {
        "user_id": "alice",
        "seq": 7,
        "input": {"role": "user", "content": CONTENT},
        "output": {"role": "assistant", "content": CONTENT},
    }
    sidecar = {"dapr-api-token": TOKEN}
    for dead in (
        {"id": "ev-1", "topic": "user-chat", "data": turn},
        {"id": {"nested": CONTENT}, "data": CONTENT},
        [CONTENT],
    ):
        assert keyed.post("/subscribe/dead-letter", json=dead, headers=sidecar).status_code == 200
    resp = keyed.get("/events/stats", headers={"authorization": "Bearer admin"})
    assert resp.json()["dead_letters"] == 3
    assert CONTENT not in resp.text
    first = resp.json()["recent_dead_letters"][0]
    assert first["id"] == "ev-1"
    assert set(first) <= {"id", "type", "topic", "user_id", "seq", "reason"}


def test_without_api_keys_event_stats_stay_open() -> None:
    with TestClient(create_app(Settings(auth=AuthSettings(app_api_token=TOKEN)))) as client:
        assert client.get("/events/stats").status_code == 200


def test_a_key_is_its_users_alone_or_an_object_with_a_label_and_the_right_to_approve() -> None:
    keys = AuthSettings.model_validate(
        {
            "api_keys": {
                "k1": "alice, bob",
                "k2": {"users": ["*"], "label": "ops@example", "approver": True},
                "k3": {"users": "carol"},
            }
        }
    ).api_keys
    assert (keys["k1"].users, keys["k1"].label, keys["k1"].approver) == (
        ["alice", "bob"],
        None,
        False,
    )
    assert (keys["k2"].users, keys["k2"].label, keys["k2"].approver) == (["*"], "ops@example", True)
    assert auth.key_identity(keys, "Bearer k2") == "ops@example"
    # No label: the key's hash, never the key.
    assert auth.key_identity(keys, "Bearer k3") == "key:" + hashlib.sha256(b"k3").hexdigest()[:12]


def test_keys_from_the_environment_take_both_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    value = '{"k1": "alice", "k2": {"users": "*", "label": "ops", "approver": true}}'
    monkeypatch.setenv("AGENT_ACTORS_AUTH__API_KEYS", value)
    auth_settings = Settings().auth
    assert auth_settings.api_keys["k1"].users == ["alice"]
    assert auth_settings.approvers_set


@pytest.mark.parametrize(
    "keys",
    [
        {"k1": {"users": "a", "label": "x"}, "k2": {"users": "b", "label": "x"}},
        {"k1": {"users": "a", "label": "has space"}},
        {"k1": {"users": "a", "label": "key:abc"}},
        {"k1": {"users": "a", "label": "deadline"}},
        {"k1": {"users": "a", "label": "x" * 65}},
        {"k1": {"users": "a", "approve": True}},
        {"k1": {"label": "x"}},
    ],
    ids=["same-label", "space", "colon", "reserved", "long", "unknown-field", "no-users"],
)
def test_a_bad_key_entry_is_refused_at_start(keys: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        AuthSettings.model_validate({"api_keys": keys})
