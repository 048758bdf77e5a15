"""Every error answer has the ``{"detail", "code"}`` shape, Starlette's and FastAPI's own
refusals included, and every number a route takes has a range."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from agent_actors.main import create_app
from agent_actors.settings import AuthSettings, Settings
from tests.unit.twins import make_deps


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = Settings(auth=AuthSettings(app_api_token="t"))
    with TestClient(create_app(settings)) as client:
        client.app.state.deps = make_deps(settings)[0]  # type: ignore[attr-defined]
        yield client


def test_json_nested_too_deep_to_parse_is_a_422_with_a_code(client: TestClient) -> None:
    nested = b"[" * 100_000
    answered = client.post("/chat/u1", content=nested, headers={"content-type": "application/json"})
    assert (answered.status_code, answered.json()["code"]) == (422, "invalid_input")


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("GET", "/no/such/route", 404, "not_found"),
        ("PUT", "/chat/u1", 405, "method_not_allowed"),
    ],
)
def test_routing_refusals_have_a_code(
    client: TestClient, method: str, path: str, status: int, code: str
) -> None:
    answered = client.request(method, path)
    assert (answered.status_code, answered.json()["code"]) == (status, code)
    assert answered.json()["detail"]


@pytest.mark.parametrize(
    "query",
    [
        "/chat/u1/history?before=9007199254740992",
        "/chat/u1/history?limit=9007199254740992",
        "/chat/u1/calls?before=9007199254740992",
        "/chat/u1/turns/9007199254740992",
        "/chat/u1/turns/1?wait=nan",
        "/chat/u1/turns/1?wait=inf",
        "/chat/u1/turns/1?wait=3601",
        "/sessions?after=nan:u1",
        "/sessions?after=inf:u1",
    ],
)
def test_a_number_out_of_its_range_is_a_422(client: TestClient, query: str) -> None:
    answered = client.get(query)
    assert answered.status_code == 422, answered.text
    assert answered.json()["code"] == "invalid_input"
