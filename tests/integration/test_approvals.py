"""Approvals on the real stack: a profile (an agents file written here) grants ``current_time``
only with a person's approval, and the OpenAI-protocol stub asks for it (``[[tool:…]]``).

The turn pauses before the tool runs (202, ``awaiting_approval``, no lock held: reads go on,
a new turn is a 409), and ``POST …/approval`` naming the waiting call resumes it: approved,
the tool runs and its result reaches the model; denied, the model gets a tool error;
unanswered, the reminder denies it at the deadline (``APPROVAL_S``).

API keys are on, one of them an approver: turns are sent with a key that is not (the first
form of a key, its users alone), so only the approver key decides, and records name it by its
label.
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

from tests.integration.chat_client import approval_url, eventually, history, with_params
from tests.integration.stack_fixture import RunningStack, start_stack

# Short, so the deadline test waits little real time, yet long enough for the other tests'
# few calls between a pause and its decision; the reminder checks every TURN_CHECK_S.
APPROVAL_S = 4
TURN_CHECK_S = 0.5
SENDER = {"Authorization": "Bearer sender-key"}
APPROVER = {"Authorization": "Bearer approver-key"}
APPROVER_LABEL = "approver-1"
KEYS = {
    "sender-key": "*",
    "approver-key": {"users": "*", "label": APPROVER_LABEL, "approver": True},
}
AGENTS = """\
default: assistant
agents:
  assistant:
    tools: [current_time, search_history]
  guarded:
    description: Asks before it reads the clock.
    tools: [{name: current_time, approval: required}, search_history]
  double:
    description: Asks before each tool.
    tools:
      - {name: current_time, approval: required}
      - {name: search_history, approval: required}
"""
# The profile most tests talk to: its own thread of each session (?agent=guarded).
GUARDED = "guarded"


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
        "AGENT_ACTORS_AUTH__API_KEYS": json.dumps(KEYS),
    }
    for running in start_stack(
        run_dir,
        extra_env=env,
        turn_check_s=TURN_CHECK_S,
        approval_timeout_s=APPROVAL_S,
        turn_wait_max_s=30,
    ):
        running.app.headers.update(SENDER)
        yield running


def decide(
    app: httpx.Client, location: str, call_id: str, approve: bool = True, note: str = ""
) -> httpx.Response:
    """The approver key's decision on ``call_id``."""
    body = {"call_id": call_id, "approve": approve, "note": note}
    return app.post(approval_url(location), json=body, headers=APPROVER)


def ask(app: httpx.Client, user: str, content: str, **headers: str) -> httpx.Response:
    body = {"role": "user", "content": content, "agent": GUARDED}
    return app.post(f"/chat/{user}", json=body, headers=headers)


def state(app: httpx.Client, location: str, wait: float = 0) -> dict[str, Any]:
    resp = app.get(with_params(location, wait=wait))
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


def first_call_record(app: httpx.Client, user: str, agent: str = GUARDED) -> dict[str, Any]:
    """The record of the turn's first model request (the one that asked for the tools), in
    ``agent``'s thread of the session."""
    records = app.get(f"/chat/{user}/calls", params={"agent": agent}).json()["calls"]
    record: dict[str, Any] = records[0]
    return record


def first_call(app: httpx.Client, user: str) -> dict[str, Any]:
    call: dict[str, Any] = first_call_record(app, user)["tool_calls"][0]
    return call


def test_an_approved_tool_runs_and_the_reply_is_committed(
    approvals: RunningStack, stub: StubServer, user: str
) -> None:
    app = approvals.app
    location, asked = paused(app, user, "approve")
    assert location == f"/chat/{user}/turns/1?agent={GUARDED}"
    assert asked["approval"]["tool"] == "current_time"
    assert asked["approval"]["arguments"] == "{}"
    assert asked["approval"]["deadline"] > time.time()
    # While it waits: no lock held (reads answer), the user's next turn is refused.
    assert history(app, user, agent=GUARDED)["total"] == 0
    assert app.get(f"/chat/{user}", params={"agent": GUARDED}).json()["turns"] == 0
    second = ask(app, user, "meanwhile")
    assert (second.status_code, second.json()["code"]) == (409, "turn_in_progress")
    # ?wait does not wait for a person.
    assert state(app, location, wait=20) == asked
    call_id = asked["approval"]["call_id"]
    # The key that sent the turn is no approver: refused, and nothing is decided.
    body = {"call_id": call_id, "approve": True, "note": "go ahead"}
    refused = app.post(approval_url(location), json=body)
    assert (refused.status_code, refused.json()["code"]) == (403, "approver_required")
    assert state(app, location) == asked
    decided = decide(app, location, call_id, note="go ahead")
    assert decided.status_code == 202, decided.text
    assert decided.json()["status"] == "pending"
    again = decide(app, location, call_id, note="another note")
    assert (again.status_code, again.json()["code"]) == (409, "approval_stale")
    done = state(app, location, wait=30)
    assert done["status"] == "done", done
    reply = done["response"]["content"]
    assert reply.startswith("tool current_time said: ")
    assert "utc" in json.loads(reply.removeprefix("tool current_time said: "))
    assert [e["content"] for e in history(app, user, agent=GUARDED)["history"]][1] == reply
    # The tool ran once, after the approval; the model got its result.
    sent = stub.requests(f"approve {user}")
    assert [r.tool_results for r in sent] == [0, 1]
    call = first_call(app, user)
    # The approver key's label, never the key.
    assert (call["name"], call["approved_by"], call["approval_note"]) == (
        "current_time",
        APPROVER_LABEL,
        "go ahead",
    )
    assert "utc" in call["result"]
    assert decide(app, location, call_id, approve=False).status_code == 409


def test_a_denied_tool_does_not_run_and_the_model_gets_a_tool_error(
    approvals: RunningStack, stub: StubServer, user: str
) -> None:
    app = approvals.app
    location, asked = paused(app, user, "deny")
    decided = decide(app, location, asked["approval"]["call_id"], approve=False, note="not today")
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
    assert call["error"] == f"denied by {APPROVER_LABEL}"


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
    assert time.time() >= asked["approval"]["deadline"]
    result = json.loads(done["response"]["content"].removeprefix("tool current_time said: "))
    assert "denied" in result["error"]
    assert result["note"] == f"no decision within {APPROVAL_S} s"
    assert first_call(app, user)["error"] == "denied by deadline"
    # A late click approves nothing: the deadline decided on that call.
    late = decide(app, location, asked["approval"]["call_id"])
    assert (late.status_code, late.json()["code"]) == (409, "approval_stale")


def test_a_long_turn_can_wait_for_an_approval_too(
    approvals: RunningStack, stub: StubServer, user: str
) -> None:
    app = approvals.app
    # Sent by the approver key: an approver approves the turns it sends too.
    resp = ask(app, user, f"[[tool:current_time]] async {user}", Prefer="respond-async", **APPROVER)
    assert resp.status_code == 202
    location = resp.headers["Location"]
    asked = eventually(lambda: state(app, location), lambda s: s["status"] != "pending")
    assert asked["status"] == "awaiting_approval", asked
    assert decide(app, location, asked["approval"]["call_id"]).status_code == 202
    assert state(app, location, wait=30)["status"] == "done"
    assert history(app, user, agent=GUARDED)["total"] == 2


def test_two_calls_in_one_answer_each_wait_for_their_own_approval(
    approvals: RunningStack, stub: StubServer, user: str
) -> None:
    """The model asks for two tools that need approval at once. The first approval, sent
    again once the second call waits (a lost answer retried, a stale page), answers as it did
    and never approves the second call: only an approval naming it does."""
    app = approvals.app
    content = f"[[tools:current_time|search_history:secret plans]] two {user}"
    resp = app.post(f"/chat/{user}", json={"content": content, "agent": "double"})
    assert resp.status_code == 202, resp.text
    location, first = resp.headers["Location"], resp.json()
    assert first["approval"]["tool"] == "current_time", first
    first_id = first["approval"]["call_id"]
    approve_first = {"call_id": first_id, "approve": True, "note": "the clock is fine"}
    decided = app.post(approval_url(location), json=approve_first, headers=APPROVER)
    assert decided.status_code == 202, decided.text
    # The second pause comes once the run resumes (?wait returns when it is not pending).
    second = state(app, location, wait=30)
    assert second["status"] == "awaiting_approval", second
    assert second["approval"]["tool"] == "search_history"
    assert second["approval"]["arguments"] == '{"query": "secret plans"}'
    second_id = second["approval"]["call_id"]
    assert second_id != first_id
    # The first approval again: the same answer, and the second call still waits.
    again = app.post(approval_url(location), json=approve_first, headers=APPROVER)
    assert (again.status_code, again.json()) == (202, decided.json())
    assert state(app, location) == second
    # Anything else about the first call, or a call that is not waiting, changes nothing.
    for stale in (
        {**approve_first, "approve": False},
        {**approve_first, "note": "another note"},
        {"call_id": "not-a-call", "approve": True},
    ):
        refused = app.post(approval_url(location), json=stale, headers=APPROVER)
        assert (refused.status_code, refused.json()["code"]) == (409, "approval_stale"), stale
    assert state(app, location) == second
    assert stub.requests(f"two {user}")[-1].tool_results == 0
    # The approval naming the second call lets the turn go on.
    assert decide(app, location, second_id, note="search away").status_code == 202
    done = state(app, location, wait=30)
    assert done["status"] == "done", done
    assert done["response"]["content"].startswith("tools said: ")
    assert [r.tool_results for r in stub.requests(f"two {user}")] == [0, 2]
    calls = first_call_record(app, user, agent="double")["tool_calls"]
    assert [(c["name"], c["approval_note"]) for c in calls] == [
        ("current_time", "the clock is fine"),
        ("search_history", "search away"),
    ]
    # Once the turn is done, either approval sent again still answers as it did.
    late = app.post(approval_url(location), json=approve_first, headers=APPROVER)
    assert (late.status_code, late.json()) == (202, decided.json())
