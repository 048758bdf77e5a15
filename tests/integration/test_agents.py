"""Agent profiles and the audit trail on the real stack, through the OpenAI-protocol stub.

The app reads a profile file of its own (``AGENT_ACTORS_AGENTS__FILE``): the default
profile as the packaged one has it, and a ``support`` profile with its own model, prompt,
options, tools, memory window and prompt history, so each one shows in the stub's requests.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tools.openai_stub.server import StubServer

from agent_actors.settings import LlmSettings
from tests.integration.chat_client import chat, history
from tests.integration.stack_fixture import RunningStack, start_stack

MODEL = "stub-model"
AGENTS = """
default: assistant
agents:
  assistant:
    description: the service as it is
    tools: [current_time, search_history]
  support:
    description: short support answers
    system_prompt: You are the support agent of this test.
    model: support-model
    temperature: 0.3
    max_tokens: 77
    memory_window: 1
    prompt_history: 2
    tools: [search_history]
"""


def agents_file(tmp: Path) -> str:
    path = tmp / "agents.yaml"
    path.write_text(AGENTS)
    return str(path)


@pytest.fixture(scope="module")
def agents(stub: StubServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    run_dir = tmp_path_factory.mktemp("agents-stack")
    env = {
        "OPENAI_BASE_URL": stub.url,
        "OPENAI_API_KEY": "test-key",
        "OPENAI_MODEL": MODEL,
        "AGENT_ACTORS_AGENTS__FILE": agents_file(run_dir),
        "AGENT_ACTORS_LLM__TURN_TIMEOUT_S": "15",
    }
    yield from start_stack(run_dir, extra_env=env)


def post(app: httpx.Client, user: str, content: str, agent: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"role": "user", "content": content}
    if agent is not None:
        body["agent"] = agent
    return app.post(f"/chat/{user}", json=body)


def calls_of(app: httpx.Client, user: str) -> list[dict[str, Any]]:
    resp = app.get(f"/chat/{user}/calls", params={"limit": 200})
    assert resp.status_code == 200, resp.text
    found: list[dict[str, Any]] = resp.json()["calls"]
    return found


def test_each_agent_named_answers_in_its_thread_and_the_model_call_follows_it(
    agents: RunningStack, stub: StubServer, user: str
) -> None:
    first = post(agents.app, user, f"hello {user}", agent="support")
    assert first.status_code == 200, first.text
    sent = stub.requests(f"hello {user}")[-1]
    assert (sent.params["model"], sent.params["temperature"], sent.params["max_tokens"]) == (
        "support-model",
        0.3,
        77,
    )
    assert sent.messages[0] == {
        "role": "system",
        "content": "You are the support agent of this test.",
    }
    assert sent.tools == ["search_history"]
    # Named again: support's thread; left out: the default's, the session's own thread.
    assert post(agents.app, user, f"again {user}", agent="support").status_code == 200
    assert stub.requests(f"again {user}")[-1].params["model"] == "support-model"
    assert post(agents.app, user, f"plain {user}").status_code == 200
    assert stub.requests(f"plain {user}")[-1].params["model"] == MODEL
    unknown = post(agents.app, user, f"who {user}", agent="ghost")
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_agent")
    assert history(agents.app, user)["total"] == 2
    support = agents.app.get(f"/chat/{user}/history", params={"agent": "support"}).json()
    assert support["total"] == 4
    assert not stub.requests(f"who {user}")
    summary = agents.app.get(f"/chat/{user}", params={"agent": "support"}).json()
    assert summary["agent"] == "support"
    assert summary["profile"] == {
        "responder": "openai",
        "model": "support-model",
        "memory_window": 1,
        "prompt_history": 2,
    }
    assert [(a["agent"], a["turns"]) for a in summary["agents"]] == [
        ("assistant", 1),
        ("support", 2),
    ]
    # Each thread's call records are its own.
    records = agents.app.get(f"/chat/{user}/calls", params={"agent": "support"}).json()["calls"]
    assert [(r["seq"], r["agent"], r["model"]) for r in records] == [
        (1, "support", "support-model"),
        (2, "support", "support-model"),
    ]
    assert [r["agent"] for r in calls_of(agents.app, user)] == ["assistant"]
    # The prompt history is the profile's: the previous turn only (2 entries).
    assert (
        len([m for m in stub.requests(f"again {user}")[-1].messages if m["role"] != "system"]) == 3
    )
    # After a delete of the session, its first turn is the default's, as the settings say.
    assert agents.app.delete(f"/chat/{user}").status_code == 204
    assert post(agents.app, user, f"fresh {user}", agent="assistant").status_code == 200
    fresh = stub.requests(f"fresh {user}")[-1]
    assert fresh.params["model"] == MODEL
    assert "temperature" not in fresh.params
    assert fresh.messages[0]["content"] == LlmSettings().system_prompt
    assert fresh.tools == ["current_time", "search_history"]
    after = agents.app.get(f"/chat/{user}").json()
    assert after["agent"] == "assistant"
    assert [(a["agent"], a["turns"]) for a in after["agents"]] == [("assistant", 1)]


def test_get_agents_lists_the_file(agents: RunningStack) -> None:
    body = agents.app.get("/agents").json()
    assert body["default"] == "assistant"
    support = {a["name"]: a for a in body["agents"]}["support"]
    assert support == {
        "name": "support",
        "description": "short support answers",
        "default": False,
        "responder": "openai",
        "model": "support-model",
        "temperature": 0.3,
        "max_tokens": 77,
        "memory_window": 1,
        "prompt_history": 2,
        "tools": [{"name": "search_history", "approval": False, "idempotent": True}],
        "delegates": [],
        "delegate_timeout_s": 30.0,
    }


def test_call_records_hold_the_messages_the_answer_and_the_tool_results(
    agents: RunningStack, user: str
) -> None:
    chat(agents.app, user, f"my parrot is called Kiwi {user}")
    reply = chat(agents.app, user, "[[tool:search_history:kiwi]] what is my parrot called?")
    content = reply["response"]["content"]
    records = calls_of(agents.app, user)
    assert [(r["seq"], r["purpose"]) for r in records] == [
        (1, "reply"),
        (2, "reply"),
        (2, "tool_step"),
    ]
    first, asked, answered = records
    assert first["answer"] == f"stub reply to: my parrot is called Kiwi {user}"
    # The system prompt, the memory window when its event is in (a second system message),
    # the previous turn, the message.
    roles = [m["role"] for m in asked["messages"]]
    assert roles[0] == "system"
    assert [r for r in roles if r != "system"] == ["user", "assistant", "user"]
    assert (
        asked["messages"][-1]["content"] == "[[tool:search_history:kiwi]] what is my parrot called?"
    )
    (call,) = asked["tool_calls"]
    assert (call["name"], json.loads(call["arguments"])) == ("search_history", {"query": "kiwi"})
    assert f"my parrot is called Kiwi {user}" in call["result"]
    assert (call["approved_by"], call["approval_note"]) == (None, None)
    assert answered["messages"][-1]["role"] == "tool"
    assert answered["answer"] == content
    for record in records:
        assert record["agent"] == "assistant"
        assert record["content_recorded"] is True
        assert len(record["request_id"]) == 32
        assert record["tokens_in"] > 0
        assert record["status"] == "ok"
    # The export carries the same records.
    lines = [json.loads(x) for x in agents.app.get(f"/chat/{user}/export").text.splitlines()]
    exported = [x for x in lines if x["type"] == "call"]
    assert [x["request_id"] for x in exported] == [r["request_id"] for r in records]
    assert exported[1]["tool_calls"][0]["result"] == call["result"]


def test_a_call_log_page_stays_under_its_byte_bound(agents: RunningStack, user: str) -> None:
    # Long messages and long replies, in non-ASCII text (stored escaped, 6 bytes a character).
    for i in range(6):
        chat(agents.app, user, f"[[long:15000]] {i} " + "ü" * 7900)
    stored = [
        agents.redis.hget(f"agent-actors||ResponseAgent||{user}||calls-{slot}", "data")
        for slot in (0, 1)
    ]
    assert None not in stored
    full, next_page = (json.loads(x) for x in stored)
    # The stack runs with the defaults: pages of 5 records.
    assert [len(full["records"]), len(next_page["records"])] == [5, 1]
    print(f"call-log page of 5 turns of ~23,000-character prompts: {len(stored[0])} bytes")
    # Each record is cut to its share of a page: calls_page_bytes / calls_page_size.
    assert len(stored[0]) < LlmSettings().calls_page_bytes
    last = next_page["records"][-1]
    # The system prompt, memory (when its events are in), ten recent entries, the message.
    assert last["messages_sent"] >= 12
    assert last["messages"][-1]["chars"] == len("[[long:15000]] 5 ") + 7900
