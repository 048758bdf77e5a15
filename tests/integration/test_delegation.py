"""A coordinator and its delegates on the real stack: one session, a thread per agent, tasks
over the service's pub/sub, deadlines, deduplication by task id, dead letters and replay.

Two stacks: the offline responder with the packaged agents file (its coordinator asks the
delegates a message names), and the OpenAI-protocol stub with a file of our own (the stub's
``[[tool:…]]``/``[[tools:…]]`` markers make the coordinator's model call its delegates).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tools.openai_stub.server import StubServer

from tests.integration.chat_client import eventually
from tests.integration.stack_fixture import RunningStack, start_stack, stub_agents_env

DEADLINE_S = 2.0
AGENTS = f"""
default: assistant
agents:
  assistant: {{}}
  coordinator:
    description: asks the specialists
    delegates: [billing, shipping]
    delegate_timeout_s: {DEADLINE_S}
  billing: {{description: invoices and refunds}}
  shipping: {{description: parcels}}
"""


@pytest.fixture(scope="module")
def offline(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    yield from start_stack(tmp_path_factory.mktemp("delegation-offline"))


@pytest.fixture(scope="module")
def modelled(stub: StubServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    run_dir = tmp_path_factory.mktemp("delegation-stub")
    env = stub_agents_env(stub.url, run_dir, AGENTS, turn_timeout_s=15)
    yield from start_stack(run_dir, extra_env=env)


def session() -> str:
    return f"dg-{uuid.uuid4().hex[:8]}"


def ask(app: httpx.Client, user: str, content: str, agent: str = "coordinator") -> httpx.Response:
    return app.post(f"/chat/{user}", json={"role": "user", "content": content, "agent": agent})


def get(app: httpx.Client, path: str, **params: Any) -> Any:
    resp = app.get(path, params=params)
    assert resp.status_code == 200, resp.text
    return resp.json()


def delegations(app: httpx.Client, user: str) -> list[dict[str, Any]]:
    calls = get(app, f"/chat/{user}/calls", agent="coordinator")["calls"]
    return [c["delegation"] for r in calls for c in r["tool_calls"] if c.get("delegation")]


def export_lines(app: httpx.Client, user: str, agent: str) -> list[dict[str, Any]]:
    resp = app.get(f"/chat/{user}/export", params={"agent": agent})
    assert resp.status_code == 200, resp.text
    return [json.loads(line) for line in resp.text.splitlines() if line]


def test_an_offline_coordinator_asks_both_specialists(offline: RunningStack) -> None:
    app, user = offline.app, session()
    resp = ask(app, user, "ask billing and shipping about order 7")
    assert resp.status_code == 200, resp.text
    lines = resp.json()["response"]["content"].splitlines()
    assert lines[0].startswith("[coordinator] Memory: Message count: 1.")
    assert lines[1].startswith("billing: [billing] Memory: Message count: 1. Got your message: ")
    assert lines[2].startswith("shipping: [shipping] Memory: Message count: 1. Got your message")
    # Each agent has a thread of its own in the session; the default's is untouched.
    for agent in ("billing", "shipping"):
        entries = get(app, f"/chat/{user}/history", agent=agent)["history"]
        assert [e["role"] for e in entries] == ["user", "assistant"]
        assert entries[0]["content"] == "ask billing and shipping about order 7"
        assert entries[1]["content"].startswith(f"[{agent}] ")
    assert get(app, f"/chat/{user}/history")["history"] == []
    turns = {a["agent"]: a["turns"] for a in get(app, f"/chat/{user}")["agents"]}
    assert turns == {"assistant": 0, "coordinator": 1, "billing": 1, "shipping": 1}
    # The coordinator's record links both tasks; its export carries the links.
    links = delegations(app, user)
    assert [(x["delegate"], x["status"], x["seq"]) for x in links] == [
        ("billing", "ok", 1),
        ("shipping", "ok", 1),
    ]
    assert len({x["task_id"] for x in links}) == 2
    exported = json.dumps(export_lines(app, user, "coordinator"))
    assert all(x["task_id"] in exported for x in links)


def test_a_modelled_coordinator_calls_its_delegates_as_tools(
    modelled: RunningStack, stub: StubServer
) -> None:
    app, user = modelled.app, session()
    content = (
        '[[tools:billing:{"task": "refund for order 7?"}|shipping:{"task": "where is order 7?"}]]'
    )
    resp = ask(app, user, content)
    assert resp.status_code == 200, resp.text
    reply = resp.json()["response"]["content"]
    assert "stub reply to: refund for order 7?" in reply
    assert "stub reply to: where is order 7?" in reply
    links = delegations(app, user)
    assert [(x["delegate"], x["status"]) for x in links] == [("billing", "ok"), ("shipping", "ok")]
    for link in links:
        agent = link["delegate"]
        entries = get(app, f"/chat/{user}/history", agent=agent)["history"]
        assert len(entries) == 2
        # The delegate's own records carry the task it answered, in its export too.
        records = get(app, f"/chat/{user}/calls", agent=agent)["calls"]
        assert [r["task_id"] for r in records] == [link["task_id"]]
        assert link["task_id"] in json.dumps(export_lines(app, user, agent))


def test_a_hung_delegate_fails_the_tool_within_its_deadline(modelled: RunningStack) -> None:
    app, user = modelled.app, session()
    # The task's text is "[[hang]]", escaped so the coordinator's own request does not hang.
    content = '[[tool:billing:{"task": "\\u005b\\u005bhang\\u005d\\u005d"}]]'
    started = time.monotonic()
    resp = ask(app, user, content)
    took = time.monotonic() - started
    assert resp.status_code == 200, resp.text
    assert took < DEADLINE_S + 1.0, took  # the bound: the deadline plus a second
    reply = resp.json()["response"]["content"]
    assert reply.startswith("tool billing said: ")
    assert "did not answer in time" in reply
    (link,) = delegations(app, user)
    assert (link["delegate"], link["status"]) == ("billing", "timeout")


def publish(stack: RunningStack, topic: str, task: dict[str, Any]) -> None:
    resp = stack.daprd.post(f"/v1.0/publish/daca-pubsub/{topic}", json=task)
    assert resp.status_code == 204, resp.text


def a_task(user: str, text: str) -> dict[str, Any]:
    return {
        "task_id": uuid.uuid4().hex,
        "session": user,
        "delegate": "billing",
        "text": text,
        "caller": "coordinator",
        "caller_seq": 1,
        "chain": ["coordinator"],
        "deadline": time.time() + 30,
    }


def tasks_answered(stack: RunningStack) -> float:
    text = stack.app.get("/metrics").text
    prefix = 'agent_actors_tasks_total{outcome="ok"} '
    return sum(float(x[len(prefix) :]) for x in text.splitlines() if x.startswith(prefix))


def test_a_task_delivered_twice_is_answered_once(offline: RunningStack) -> None:
    user = session()
    task = a_task(user, "refund order 9")
    before = tasks_answered(offline)
    publish(offline, "agent-tasks", task)
    publish(offline, "agent-tasks", task)
    eventually(lambda: tasks_answered(offline) - before, lambda n: n >= 2)  # both answered
    entries = get(offline.app, f"/chat/{user}/history", agent="billing")["history"]
    assert [e["content"] for e in entries][:1] == ["refund order 9"]
    assert len(entries) == 2  # one turn, however often the task came


def test_a_dead_lettered_task_is_kept_and_replayed_once(offline: RunningStack) -> None:
    app, user = offline.app, session()
    task = a_task(user, "refund order 11")
    publish(offline, "agent-tasks-deadletter", task)
    letters = eventually(lambda: get(app, f"/chat/{user}/tasks")["letters"], bool)
    assert [x["task"]["task_id"] for x in letters] == [task["task_id"]]
    assert letters[0]["task"]["text"] == "refund order 11"
    assert get(app, f"/chat/{user}/history", agent="billing")["history"] == []
    first = app.post(f"/chat/{user}/tasks/{task['task_id']}/replay")
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "ok"
    assert first.json()["content"].startswith("[billing] ")
    again = app.post(f"/chat/{user}/tasks/{task['task_id']}/replay")
    assert (again.json()["seq"], again.json()["content"]) == (1, first.json()["content"])
    assert len(get(app, f"/chat/{user}/history", agent="billing")["history"]) == 2
    assert get(app, f"/chat/{user}/tasks")["letters"][0]["replayed_at"] is not None
    missing = app.post(f"/chat/{user}/tasks/{uuid.uuid4().hex}/replay")
    assert (missing.status_code, missing.json()["code"]) == (404, "task_not_found")
