from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from tests.unit.twins import LocalActors

Twins = tuple[TestClient, LocalActors]


def test_chat_answers_in_the_tutorial_shape_and_history_pages(twins: Twins) -> None:
    client, _ = twins
    for i in range(4):
        resp = client.post("/chat/user1", json={"role": "user", "content": f"hello {i}"})
        assert resp.status_code == 200
        body = resp.json()
        assert set(body) == {"response"}
        assert set(body["response"]) == {"role", "content"}
        assert body["response"]["role"] == "assistant"
    view = client.get("/chat/user1/history").json()
    assert view["total"] == 8
    assert len(view["history"]) == 5
    older = client.get("/chat/user1/history", params={"before": view["next_before"]}).json()
    assert [e["content"] for e in older["history"]] == [
        "hello 0",
        older["history"][1]["content"],
        "hello 1",
    ]
    assert client.get("/response/user1/count").json() == {"count": 4}
    assert client.get("/memory/user1").json() == {"memory": []}


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/chat/a|b", {"content": "x"}, 422, "invalid_user_id"),
        ("/chat/ok", {"content": ""}, 422, "invalid_input"),
        ("/chat/ok", {"content": "y" * 9000}, 413, "content_too_large"),
        ("/chat/ok", {"role": "system", "content": "x"}, 422, "invalid_input"),
    ],
)
def test_bad_input_is_a_4xx_with_a_reason(
    twins: Twins, path: str, body: dict[str, str], status: int, code: str
) -> None:
    client, actors = twins
    resp = client.post(path, json=body)
    assert (resp.status_code, resp.json()["code"]) == (status, code)
    assert actors.actors == {}


def test_actor_routes_need_the_sidecar_token(twins: Twins) -> None:
    client, _ = twins
    path = "/actors/ChatAgent/u/method/ProcessMessage"
    assert client.put(path, json={}).status_code == 401
    assert client.post("/subscribe", json={}).status_code == 401
    assert client.get("/healthz").status_code == 200


def test_a_sidecar_failure_is_a_503_without_internals(twins: Twins) -> None:
    from agent_actors.errors import ActorUnavailable

    client, actors = twins

    def broken(*_args: object) -> object:
        # What sidecar/client.py raises for any failed call to daprd.
        raise ActorUnavailable(cause="daprd answered 500: secret internals")

    actors.create = broken  # type: ignore[method-assign]
    resp = client.get("/memory/user1")
    assert resp.status_code == 503
    assert resp.json()["code"] == "actor_unavailable"
    # A retry makes sense: the client is told when.
    assert resp.headers["Retry-After"] == "1"
    assert "internals" not in resp.text


@pytest.fixture
def keyed() -> Iterator[TestClient]:
    from agent_actors.main import create_app
    from agent_actors.settings import AuthSettings, Settings
    from tests.unit.twins import make_deps

    settings = Settings(
        auth=AuthSettings(api_keys={"k1": "alice, bob", "admin": "*"}, app_api_token="t")
    )
    with TestClient(create_app(settings)) as client:
        client.app.state.deps = make_deps(settings)[0]  # type: ignore[attr-defined]
        yield client


@pytest.mark.parametrize(
    ("header", "user", "status"),
    [
        (None, "alice", 401),
        ("Bearer nope", "alice", 401),
        ("Basic k1", "alice", 401),
        ("Bearer k1", "carol", 403),
        ("Bearer k1", "bob", 200),
        ("Bearer admin", "carol", 200),
    ],
)
def test_api_keys_are_bound_to_user_ids(
    keyed: TestClient, header: str | None, user: str, status: int
) -> None:
    headers = {"authorization": header} if header else {}
    resp = keyed.get(f"/response/{user}/count", headers=headers)
    assert resp.status_code == status, resp.text
    if status != 200:
        assert resp.json()["code"] in {"unauthorized", "forbidden"}


def test_a_turn_answers_alike_on_the_fast_path_and_through_fastapis_handler(
    twins: Twins,
) -> None:
    # POST /chat/{id} with a plain JSON body skips FastAPI's dependency solving (ChatRoute);
    # another JSON content type FastAPI accepts goes through FastAPI's own handler.
    client, _ = twins
    answers = []
    for kind in ("application/json", "application/merge-patch+json"):
        resp = client.post(
            "/chat/user1",
            content=b'{"role": "user", "content": "hello"}',
            headers={"content-type": kind, "Idempotency-Key": kind},
        )
        assert resp.status_code == 200, resp.text
        assert resp.headers["content-type"] == "application/json"
        answers.append(
            (resp.headers["Turn-Seq"], set(resp.json()), resp.json()["response"]["role"])
        )
    assert answers == [("1", {"response"}, "assistant"), ("2", {"response"}, "assistant")]
    # A repeat of a key is replayed on the fast path too, with FastAPI's header.
    again = client.post(
        "/chat/user1",
        json={"role": "user", "content": "hello"},
        headers={"Idempotency-Key": "application/json"},
    )
    assert (again.headers["Turn-Seq"], again.headers["Idempotent-Replayed"]) == ("1", "true")
    # Bodies the fast path declines get FastAPI's own 422s.
    for raw in (b"{not json", b'{"content": 3}', b"[]"):
        resp = client.post("/chat/user1", content=raw, headers={"content-type": "application/json"})
        assert resp.status_code == 422, raw
