"""Approvals on the real stack: a profile (an agents file written here) grants ``current_time``
only with a person's approval, and the OpenAI-protocol stub asks for it (``[[tool:…]]``).

The turn pauses before the tool runs (202, ``awaiting_approval``, no lock held: reads go on,
a new turn is a 409), and ``POST …/approval`` resumes it: approved, the tool runs and its
result reaches the model; denied, the model gets a tool error; unanswered, the reminder denies
it at the deadline (``APPROVAL_S``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tools.openai_stub.server import StubServer

from tests.integration.chat_client import eventually, history
from tests.integration.stack_fixture import RunningStack, start_stack

APPROVAL_S = 8
AGENTS = """\
default: assistant
agents:
  assistant:
    tools: [current_time, search_history]
  guarded:
    description: Asks before it reads the clock.
    tools: [{name: current_time, approval: required}, search_history]
"""


@pytest.fixture(scope="module")
def approvals(stub: StubServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    run_dir = tmp_path_factory.mktemp("approvals")
    agents = Path(run_dir) / "agents.yaml"
    agents.write_text(AGENTS)
    env = {
        "OPENAI_BASE_URL": stub.url,
        "OPENAI_API_KEY": "test-key",
        "OPENAI_MODEL": "stub-model",
        "AGENT_ACTORS_AGENTS__FILE": str(agents),
    }
    yield from start_stack(
        run_dir, extra_env=env, turn_check_s=1, approval_timeout_s=APPROVAL_S, turn_wait_max_s=30
    )


def ask(app: httpx.Client, user: str, content: str, **headers: str) -> httpx.Response:
    body = {"role": "user", "content": content, "agent": "guarded"}
    return app.post(f"/chat/{user}", json=body, headers=headers)


def state(app: httpx.Client, location: str, wait: float = 0) -> dict[str, Any]:
    resp = app.get(location, params={"wait": wait})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def paused(app: httpx.Client, user: str, tag: str) -> tuple[str, dict[str, Any]]:
    resp = ask(app, user, f"[[tool:current_time]] {tag} {user}")
    assert resp.status_code == 202, resp.text
    assert "Preference-Applied" not in resp.headers
    body: dict[str, Any] = resp.json()
    assert body["status"] == "awaiting_approval", body
    return resp.headers["Location"], body


def first_call(app: httpx.Client, user: str) -> dict[str, Any]:
    records = app.get(f"/chat/{user}/calls").json()["calls"]
    call: dict[str, Any] = records[0]["tool_calls"][0]
    return call


def test_an_approved_tool_runs_and_the_reply_is_committed(
    approvals: RunningStack, stub: StubServer, user: str
) -> None:
    app = approvals.app
    location, asked = paused(app, user, "approve")
    assert location == f"/chat/{user}/turns/1"
    assert asked["approval"]["tool"] == "current_time"
    assert asked["approval"]["arguments"] == "{}"
    assert asked["approval"]["deadline"] > time.time()
    # While it waits: no lock held (reads answer), the user's next turn is refused.
    assert history(app, user)["total"] == 0
    assert app.get(f"/chat/{user}").json()["turns"] == 0
    second = ask(app, user, "meanwhile")
    assert (second.status_code, second.json()["code"]) == (409, "turn_in_progress")
    # ?wait does not wait for a person.
    assert state(app, location, wait=20) == asked
    decided = app.post(f"{location}/approval", json={"approve": True, "note": "go ahead"})
    assert decided.status_code == 202, decided.text
    assert decided.json()["status"] == "pending"
    again = app.post(f"{location}/approval", json={"approve": True})
    assert (again.status_code, again.json()["code"]) == (409, "not_awaiting_approval")
    done = state(app, location, wait=30)
    assert done["status"] == "done", done
    reply = done["response"]["content"]
    assert reply.startswith("tool current_time said: ")
    assert "utc" in json.loads(reply.removeprefix("tool current_time said: "))
    assert [e["content"] for e in history(app, user)["history"]][1] == reply
    # The tool ran once, after the approval; the model got its result.
    sent = stub.requests(f"approve {user}")
    assert [r.tool_results for r in sent] == [0, 1]
    call = first_call(app, user)
    assert (call["name"], call["approved_by"], call["approval_note"]) == (
        "current_time",
        "anonymous",
        "go ahead",
    )
    assert "utc" in call["result"]
    assert app.post(f"{location}/approval", json={"approve": True}).status_code == 409


def test_a_denied_tool_does_not_run_and_the_model_gets_a_tool_error(
    approvals: RunningStack, stub: StubServer, user: str
) -> None:
    app = approvals.app
    location, _ = paused(app, user, "deny")
    decided = app.post(f"{location}/approval", json={"approve": False, "note": "not today"})
    assert decided.status_code == 202
    done = state(app, location, wait=30)
    assert done["status"] == "done", done
    result = json.loads(done["response"]["content"].removeprefix("tool current_time said: "))
    assert "denied" in result["error"]
    assert result["note"] == "not today"
    tool_message = stub.requests(f"deny {user}")[-1].messages[-1]
    assert tool_message["role"] == "tool"
    assert "utc" not in tool_message["content"]
    call = first_call(app, user)
    assert call["approved_by"] is None
    assert call["error"] == "denied by anonymous"


def test_an_approval_past_its_deadline_is_denied(
    approvals: RunningStack, stub: StubServer, user: str
) -> None:
    app = approvals.app
    location, asked = paused(app, user, "late")
    done = eventually(
        lambda: state(app, location),
        lambda s: s["status"] == "done",
        timeout=APPROVAL_S + 30,
    )
    assert done["status"] == "done", done
    assert time.time() >= asked["approval"]["deadline"]
    result = json.loads(done["response"]["content"].removeprefix("tool current_time said: "))
    assert "denied" in result["error"]
    assert result["note"] == f"no decision within {APPROVAL_S} s"
    assert first_call(app, user)["error"] == "denied by deadline"
    late = app.post(f"{location}/approval", json={"approve": True})
    assert (late.status_code, late.json()["code"]) == (409, "not_awaiting_approval")


def test_a_long_turn_can_wait_for_an_approval_too(
    approvals: RunningStack, stub: StubServer, user: str
) -> None:
    app = approvals.app
    resp = ask(app, user, f"[[tool:current_time]] async {user}", Prefer="respond-async")
    assert resp.status_code == 202
    location = resp.headers["Location"]
    asked = eventually(lambda: state(app, location), lambda s: s["status"] != "pending")
    assert asked["status"] == "awaiting_approval", asked
    assert app.post(f"{location}/approval", json={"approve": True}).status_code == 202
    assert state(app, location, wait=30)["status"] == "done"
    assert history(app, user)["total"] == 2
