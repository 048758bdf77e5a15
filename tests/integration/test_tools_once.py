"""No tool runs twice, on the real stack: a long turn's run saves its progress through tool
calls with ChatAgent, and the run started again after the app is killed -9 goes on from there.

The tools are the test MCP server's ``tally`` and ``send`` (tests/mcp_server.py), served over
streamable HTTP from this process, so their run counts (``RUNS``) outlive the app that called
them. The profile grants ``send`` as not idempotent. The OpenAI-protocol stub calls the tool
the message names (``[[tool:…]]``) and, with ``[[then_delay:s]]``, takes ``s`` seconds over
its answer once the tool's result is in: the kill lands then.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tools.background_server import BackgroundServer
from tools.openai_stub.server import StubServer

from tests.integration.chat_client import eventually
from tests.integration.stack_fixture import RunningStack, start_stack
from tests.mcp_server import CALLS, RUNS, SERVER

ASYNC = {"Prefer": "respond-async"}
ONCE = {"agent": "once"}
TOOL_S = 6


@pytest.fixture(scope="module")
def once(stub: StubServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    mcp = BackgroundServer(SERVER.streamable_http_app(), "mcp-http").start()
    run_dir = tmp_path_factory.mktemp("tools-once")
    env = {
        "OPENAI_BASE_URL": stub.url,
        "OPENAI_API_KEY": "test-key",
        "OPENAI_MODEL": "stub-model",
        "AGENT_ACTORS_LLM__TIMEOUT_S": "40",
        "AGENT_ACTORS_LLM__MAX_RETRIES": "0",
        "AGENT_ACTORS_AGENTS__FILE": str(agents_file(run_dir / "agents.yaml", mcp.origin)),
    }
    try:
        # The reminder checks every second: a lost run is started again soon after the app
        # is back.
        yield from start_stack(run_dir, extra_env=env, turn_check_s=1, long_turn_timeout_s=60)
    finally:
        mcp.stop()


def agents_file(path: Path, origin: str) -> Path:
    book = {
        "default": "assistant",
        "mcp_servers": {"web": {"url": f"{origin}/mcp", "timeout_s": TOOL_S + 10}},
        "agents": {
            "assistant": {"tools": ["current_time"]},
            "once": {"tools": ["web.tally", {"name": "web.send", "idempotent": False}]},
        },
    }
    path.write_text(yaml.safe_dump(book), encoding="utf-8")
    return path


def start(app: httpx.Client, user: str, content: str) -> str:
    """A long turn of the ``once`` agent (in its thread of the session); its path."""
    body = {"role": "user", "content": content, "agent": "once"}
    resp = app.post(f"/chat/{user}", json=body, headers=ASYNC)
    assert resp.status_code == 202, resp.text
    assert resp.headers["Location"] == f"/chat/{user}/turns/1?agent=once"
    return f"/chat/{user}/turns/1"


def turn_state(app: httpx.Client, path: str, wait: float = 0) -> dict[str, Any]:
    resp = app.get(path, params={**ONCE, "wait": wait})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def calling(tool: str, arguments: dict[str, Any]) -> str:
    return f"[[tool:{tool}:{json.dumps(arguments)}]]"


def test_a_tool_whose_result_was_saved_is_not_run_again_after_a_kill(
    once: RunningStack, stub: StubServer, user: str
) -> None:
    app = once.app
    key = f"tally-{user}"
    location = start(app, user, f"{calling('web__tally', {'key': key})} [[then_delay:4]] {user}")
    # The tool ran and its result went to the model: the app dies while the model answers.
    eventually(lambda: [r for r in stub.requests(user) if r.tool_results], bool)
    once.stack.restart("app", crash=True)
    done = eventually(
        lambda: turn_state(app, location), lambda s: s["status"] != "pending", timeout=60
    )
    assert done["status"] == "done", done
    assert done["response"]["content"] == f"tool web__tally said: run 1 of {key}"
    assert RUNS[key] == 1
    # The lost run's answer, and the new run's, both with the one saved result.
    sent = stub.requests(user)
    assert [r.tool_results for r in sent] == [0, 1, 1]
    assert sent[1].messages[-1] == sent[2].messages[-1]
    # The records: the answer that asked for the tool (its one result), then the new run's.
    calls = app.get(f"/chat/{user}/calls", params=ONCE).json()["calls"]
    assert [(c["purpose"], c["resumed"]) for c in calls] == [("reply", 0), ("tool_step", 1)]
    [call] = calls[0]["tool_calls"]
    assert (call["name"], call["result"], call["attempt"]) == ("web__tally", f"run 1 of {key}", 1)
    assert call["resumed_after_crash"] is False
    assert app.get(f"/chat/{user}/history", params=ONCE).json()["total"] == 2


def test_a_tool_not_idempotent_running_at_a_kill_waits_for_a_person(
    once: RunningStack, stub: StubServer, user: str
) -> None:
    app = once.app
    key = f"send-{user}"
    location = start(app, user, f"{calling('web__send', {'key': key, 'seconds': TOOL_S})} {user}")
    eventually(lambda: RUNS.get(key), bool)
    once.stack.restart("app", crash=True)
    waiting = eventually(
        lambda: turn_state(app, location), lambda s: s["status"] != "pending", timeout=60
    )
    # The call may have taken effect: nothing runs it again but a person's approval.
    assert waiting["status"] == "awaiting_approval", waiting
    asked = waiting["approval"]
    assert (asked["tool"], json.loads(asked["arguments"])["key"]) == ("web.send", key)
    assert "idempotent: false" in asked["reason"]
    assert "running when the turn's run was lost" in asked["reason"]
    assert waiting["resumed"] == 1
    assert RUNS[key] == 1
    approval = {"call_id": asked["call_id"], "approve": True, "note": "it did not go out"}
    assert app.post(f"{location}/approval", params=ONCE, json=approval).status_code == 202
    done = turn_state(app, location, wait=TOOL_S + 30)
    assert done["status"] == "done", done
    assert done["response"]["content"] == f"tool web__send said: run 2 of {key}"
    assert RUNS[key] == 2
    [call] = app.get(f"/chat/{user}/calls", params=ONCE).json()["calls"][0]["tool_calls"]
    assert (call["attempt"], call["resumed_after_crash"]) == (2, True)
    assert (call["approved_by"], call["approval_note"]) == ("anonymous", "it did not go out")


def test_a_tool_running_at_a_kill_is_called_again_with_its_key_and_acts_once(
    once: RunningStack, stub: StubServer, user: str
) -> None:
    app = once.app
    key = f"again-{user}"
    location = start(app, user, f"{calling('web__tally', {'key': key, 'seconds': TOOL_S})} {user}")
    eventually(lambda: RUNS.get(key), bool)
    once.stack.restart("app", crash=True)  # mid-call
    done = eventually(
        lambda: turn_state(app, location), lambda s: s["status"] != "pending", timeout=60
    )
    assert done["status"] == "done", done
    # Called twice (the lost run's call, then the new run's), with the same idempotency key:
    # the tool, which honours it, acted once and answered the repeat with its first answer.
    assert (CALLS[key], RUNS[key]) == (2, 1)
    assert done["response"]["content"] == f"tool web__tally said: run 1 of {key}"
    [call] = app.get(f"/chat/{user}/calls", params=ONCE).json()["calls"][0]["tool_calls"]
    assert (call["attempt"], call["resumed_after_crash"]) == (2, True)
