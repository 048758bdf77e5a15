"""Reads that page through daprd by bytes: long non-ASCII conversations read back whole
(the twin refuses an actor payload over the max body size, as daprd does)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient

from agent_actors.actors.proxies import MemoryAgentClient
from agent_actors.errors import ActorUnavailable
from agent_actors.llm.responder import ReplyContext, ReplyRequest
from agent_actors.main import create_app
from agent_actors.models import ActorTypes, CallRecord, RecordedMessage
from agent_actors.settings import AuthSettings
from agent_actors.store.state import page_key
from tests.unit.store.test_payload import CHARS, EMOJI, small_body
from tests.unit.twins import LocalActors, make_deps

Twins = tuple[TestClient, LocalActors]
TURNS = 20
CALLS_PER_TURN = 5


class EmojiResponder:
    """Replies with ``CHARS`` emoji and records ``CALLS_PER_TURN`` model calls full of them."""

    async def reply(self, request: ReplyRequest, context: ReplyContext) -> str:
        for n in range(CALLS_PER_TURN):
            text = EMOJI * CHARS
            context.calls.record(
                CallRecord(
                    seq=request.seq,
                    at=datetime.now(UTC),
                    model="m",
                    request_id=f"{request.seq}.{n}",
                    content_recorded=True,
                    messages=[RecordedMessage(role="user", content=text, chars=CHARS)],
                    answer=text,
                )
            )
        return f"{request.seq}:" + EMOJI * CHARS


@pytest.fixture
def small_twins() -> Iterator[Twins]:
    """The twins with daprd's smallest max body size (256 KiB): 20 turns of 1,000 emoji each
    way are ~1 MB of entries in actor payloads."""
    settings = small_body()
    settings.auth = AuthSettings(app_api_token="unit-token")
    with TestClient(create_app(settings)) as client:
        deps, actors, _ = make_deps(settings)
        deps.responder = EmojiResponder()
        client.app.state.deps = deps  # type: ignore[attr-defined]
        for i in range(TURNS):
            resp = client.post("/chat/u1", json={"content": f"{i}:" + EMOJI * (CHARS - 8)})
            assert resp.status_code == 200, resp.text
        yield client, actors


def stored(actors: LocalActors) -> list[dict[str, Any]]:
    state = actors.actor(ActorTypes.CHAT, "u1")._state_manager._mock_state
    pages = range(len([k for k in state if k.startswith("history-")]))
    return [e for n in pages for e in state[page_key(n)]["entries"]]


def test_history_limit_200_reads_every_entry(small_twins: Twins) -> None:
    client, actors = small_twins
    view = client.get("/chat/u1/history", params={"limit": 200}).json()
    assert view["history"] == stored(actors)
    assert (len(view["history"]), view["total"], view["next_before"]) == (40, 40, None)
    page = client.get("/chat/u1/history", params={"limit": 30, "before": 35}).json()
    assert page["history"] == stored(actors)[5:35]
    assert page["next_before"] == 5


def test_calls_limit_200_reads_every_record(small_twins: Twins) -> None:
    client, _ = small_twins
    view = client.get("/chat/u1/calls", params={"limit": 200}).json()
    every = [f"{s}.{n}" for s in range(1, TURNS + 1) for n in range(CALLS_PER_TURN)]
    assert [c["request_id"] for c in view["calls"]] == every
    assert view["next_before"] is None


def test_the_export_has_every_entry_and_call_each_line_json(small_twins: Twins) -> None:
    client, actors = small_twins
    resp = client.get("/chat/u1/export")
    assert resp.status_code == 200
    lines = [json.loads(x) for x in resp.text.splitlines()]
    entries = [x for x in lines if x["type"] == "entry"]
    assert [x["index"] for x in entries] == list(range(40))
    assert [x["content"] for x in entries] == [e["content"] for e in stored(actors)]
    assert len([x for x in lines if x["type"] == "call"]) == TURNS * CALLS_PER_TURN
    assert lines[-1]["type"] == "call"


def test_an_export_cut_after_its_200_ends_with_an_error_line(
    small_twins: Twins, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, _ = small_twins

    async def fail(_self: object) -> None:
        raise ActorUnavailable()

    monkeypatch.setattr(MemoryAgentClient, "status", fail)
    resp = client.get("/chat/u1/export")
    assert resp.status_code == 200
    lines = [json.loads(x) for x in resp.text.splitlines()]
    assert len([x for x in lines if x["type"] == "entry"]) == 40
    assert lines[-1] == {
        "type": "error",
        "code": "actor_unavailable",
        "detail": "the actor runtime could not complete the call",
    }
