"""With ``llm.record_content`` off, call records keep the shape of each model call and none
of its text (real stack, OpenAI-protocol stub)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from tools.openai_stub.server import StubServer

from tests.integration.chat_client import chat
from tests.integration.stack_fixture import RunningStack, start_stack


@pytest.fixture(scope="module")
def private(stub: StubServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    env = {
        "OPENAI_BASE_URL": stub.url,
        "OPENAI_API_KEY": "test-key",
        "AGENT_ACTORS_LLM__RECORD_CONTENT": "false",
    }
    yield from start_stack(tmp_path_factory.mktemp("privacy-stack"), extra_env=env)


def test_records_hold_no_text_without_record_content(private: RunningStack, user: str) -> None:
    chat(private.app, user, f"my secret is Quetzal {user}")
    reply = chat(private.app, user, "[[tool:search_history:quetzal]] what is my secret?")
    assert "Quetzal" in reply["response"]["content"], "the tool still ran"
    records = private.app.get(f"/chat/{user}/calls").json()["calls"]
    assert [r["purpose"] for r in records] == ["reply", "reply", "tool_step"]
    stored = json.dumps(records)
    assert "Quetzal" not in stored
    assert "secret" not in stored
    assert "quetzal" not in stored
    for record in records:
        assert record["content_recorded"] is False
        assert record["answer"] is None
        assert all(m["content"] == "" for m in record["messages"])
        assert record["messages_sent"] == len(record["messages"])
    # The shape stays: roles, lengths, the tool asked for.
    asked = records[1]
    assert asked["messages"][-1]["chars"] == len(
        "[[tool:search_history:quetzal]] what is my secret?"
    )
    (call,) = asked["tool_calls"]
    assert (call["name"], call["arguments"], call["result"]) == ("search_history", "", None)
    export = private.app.get(f"/chat/{user}/export").text
    calls = [line for line in export.splitlines() if '"type": "call"' in line]
    assert len(calls) == 3
    assert not any("Quetzal" in line for line in calls)
