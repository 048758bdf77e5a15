"""GET /chat/{id}/calls and the export's call lines across many stored call-log pages (twin)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from fastapi.testclient import TestClient

from agent_actors.llm.responder import ReplyContext, ReplyRequest
from agent_actors.models import ActorTypes, CallRecord
from agent_actors.settings import LlmSettings
from tests.unit.twins import LocalActors

Twins = tuple[TestClient, LocalActors]
CALLS_PER_TURN = 3


class RecordingResponder:
    """Records ``CALLS_PER_TURN`` model calls per turn, each named by its turn and number."""

    async def reply(self, request: ReplyRequest, context: ReplyContext) -> str:
        for n in range(CALLS_PER_TURN):
            context.calls.record(
                CallRecord(
                    seq=request.seq,
                    at=datetime.now(UTC),
                    model="m",
                    request_id=f"{request.seq}.{n}",
                )
            )
        return "ok"


def test_calls_and_the_export_page_across_many_stored_pages(twins: Twins) -> None:
    client, actors = twins
    client.app.state.deps.responder = RecordingResponder()  # type: ignore[attr-defined]
    turns = 9  # 27 records: pages of 5 (the default), the last one partly filled
    for i in range(turns):
        assert client.post("/chat/u1", json={"content": f"m{i}"}).is_success
    every = [f"{seq}.{n}" for seq in range(1, turns + 1) for n in range(CALLS_PER_TURN)]
    state = actors.actor(ActorTypes.RESPONSE, "u1")._state_manager._mock_state
    pages = [k for k in state if k.startswith("calls-") and k != "calls-meta"]
    assert LlmSettings().calls_page_size == 5
    assert len(pages) == 6

    newest = client.get("/chat/u1/calls", params={"limit": 20}).json()
    assert [c["request_id"] for c in newest["calls"]] == every[-20:]
    assert (newest["total"], newest["next_before"]) == (27, 7)
    older = client.get("/chat/u1/calls", params={"limit": 20, "before": 7}).json()
    assert [c["request_id"] for c in older["calls"]] == every[:7]
    assert older["next_before"] is None

    lines = [json.loads(x) for x in client.get("/chat/u1/export").text.splitlines()]
    assert [x["request_id"] for x in lines if x["type"] == "call"] == every
