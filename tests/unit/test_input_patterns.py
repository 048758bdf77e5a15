"""Every pattern that validates input refuses a trailing newline: ``re.match`` with ``^...$``
accepted "user1\\n" (``$`` matches just before a final newline), and the newline reached actor
ids, Redis keys, logs and a 202's Location."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from agent_actors.errors import InvalidInput, InvalidUserId, Misconfigured
from agent_actors.llm.mcp_tools import WIRE_NAME
from agent_actors.llm.profiles import load_book
from agent_actors.main import create_app
from agent_actors.models import AGENT_NAME, USER_ID, check_user_id
from agent_actors.settings import AuthSettings, LimitSettings, Settings
from agent_actors.store.session_index import SessionIndex
from tests.unit.twins import make_deps


@pytest.mark.parametrize(
    ("pattern", "valid"), [(USER_ID, "user1"), (AGENT_NAME, "support"), (WIRE_NAME, "srv__t")]
)
def test_a_pattern_takes_the_name_and_not_the_name_with_a_newline(pattern, valid) -> None:  # type: ignore[no-untyped-def]
    assert pattern.fullmatch(valid)
    for bad in (f"{valid}\n", f"{valid}\r\n", f"\n{valid}", f"{valid}\x00"):
        assert not pattern.fullmatch(bad), repr(bad)


def test_a_user_id_with_a_final_newline_is_invalid() -> None:
    assert check_user_id("user1", 64) == "user1"
    with pytest.raises(InvalidUserId):
        check_user_id("user1\n", 64)


@pytest.fixture
def client() -> Iterator[TestClient]:
    settings = Settings(auth=AuthSettings(app_api_token="t"))
    with TestClient(create_app(settings)) as client:
        client.app.state.deps = make_deps(settings)[0]  # type: ignore[attr-defined]
        yield client


@pytest.mark.parametrize("prefer", [None, "respond-async"])
def test_a_turn_for_an_id_with_a_newline_is_a_422(client: TestClient, prefer: str | None) -> None:
    headers = {"Prefer": prefer} if prefer else {}
    answered = client.post("/chat/u1%0A", json={"content": "hi"}, headers=headers)
    assert (answered.status_code, answered.json()["code"]) == (422, "invalid_user_id")
    assert "location" not in answered.headers


def test_an_agent_name_with_a_newline_is_a_422(client: TestClient) -> None:
    answered = client.post("/chat/u1", json={"content": "hi", "agent": "assistant\n"})
    assert (answered.status_code, answered.json()["code"]) == (422, "invalid_input")
    assert client.post("/chat/u1", json={"content": "hi", "agent": "assistant"}).status_code == 200


def test_an_idempotency_key_with_a_newline_is_a_422(client: TestClient) -> None:
    # (httpx refuses to send a raw newline in a header: a tab is the same kind of character.)
    answered = client.post(
        "/chat/u1", json={"content": "hi"}, headers={"Idempotency-Key": "key\t1"}
    )
    assert (answered.status_code, answered.json()["code"]) == (422, "invalid_input")


def test_the_agents_file_refuses_names_with_a_newline(tmp_path: Path) -> None:
    agents = tmp_path / "agents.yaml"
    agents.write_text('default: "a\\n"\nagents:\n  "a\\n":\n    description: x\n')
    with pytest.raises(Misconfigured, match="agent name"):
        load_book(agents, frozenset(), 3)
    agents.write_text(
        "default: a\nagents:\n  a:\n    description: x\n"
        'mcp_servers:\n  "s\\n":\n    url: http://127.0.0.1:1/mcp\n'
    )
    with pytest.raises(Misconfigured, match="MCP server name"):
        load_book(agents, frozenset(), 3)


@pytest.mark.parametrize(
    "after", ["nan:u1", "inf:u1", "-inf:u1", "NaN:u1", "1.5:u1\n", "1.5:a|b", "x:u1", "1.5"]
)
async def test_a_sessions_cursor_is_a_finite_time_and_a_user_id(after: str) -> None:
    index = SessionIndex(store=None, limits=LimitSettings(), load=None)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput):
        await index.page(20, after, 0.0)
