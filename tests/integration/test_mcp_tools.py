"""Tools from MCP servers on the real stack: the OpenAI-protocol stub asks for a tool, the app
runs it in a real MCP server (tests/mcp_server.py over stdio, started by the app, and over
streamable HTTP, run by this test), and the result reaches the model's next request and the
reply. A server that does not start, or dies in the middle of a call, costs the turn nothing
but that tool: the model gets a tool error and answers.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tools.background_server import BackgroundServer
from tools.openai_stub.server import Recorded, StubServer

from tests.integration.chat_client import approval_url, with_params
from tests.integration.stack_fixture import RunningStack, start_stack
from tests.mcp_server import SERVER

SERVER_SCRIPT = Path(__file__).resolve().parent.parent / "mcp_server.py"
MAX_RESULT_CHARS = 500


@pytest.fixture(scope="module")
def http_mcp() -> Iterator[BackgroundServer]:
    server = BackgroundServer(SERVER.streamable_http_app(), "mcp-http").start()
    yield server
    server.stop()


def agents_file(path: Path, http_origin: str) -> Path:
    book = {
        "default": "assistant",
        "mcp_servers": {
            "tools": {
                "command": [sys.executable, str(SERVER_SCRIPT)],
                "timeout_s": 10,
                "max_result_chars": MAX_RESULT_CHARS,
            },
            "web": {"url": f"{http_origin}/mcp", "timeout_s": 10},
            # Exits at once: it never answers the MCP handshake.
            "dead": {"command": [sys.executable, "-c", "import sys; sys.exit(3)"]},
        },
        "agents": {
            "assistant": {"tools": ["current_time", "search_history"]},
            "mcp": {"tools": ["current_time", "tools.*", "web.echo", "dead.*"]},
            "guarded": {"tools": [{"name": "tools.echo", "approval": "required"}]},
        },
    }
    path.write_text(yaml.safe_dump(book), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def mcp_stack(
    stub: StubServer, http_mcp: BackgroundServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    run_dir = tmp_path_factory.mktemp("mcp-stack")
    env = {
        "OPENAI_BASE_URL": stub.url,
        "OPENAI_API_KEY": "test-key",
        "OPENAI_MODEL": "stub-model",
        "AGENT_ACTORS_LLM__TURN_TIMEOUT_S": "30",
        "AGENT_ACTORS_AGENTS__FILE": str(agents_file(run_dir / "agents.yaml", http_mcp.origin)),
    }
    yield from start_stack(run_dir, extra_env=env)


def ask(app: httpx.Client, user: str, content: str) -> str:
    resp = app.post(f"/chat/{user}", json={"role": "user", "content": content, "agent": "mcp"})
    assert resp.status_code == 200, resp.text
    reply: str = resp.json()["response"]["content"]
    return reply


def calling(tool: str, arguments: dict[str, Any], user: str) -> str:
    """A message that makes the stub call ``tool`` with ``arguments`` (unique per user)."""
    return f"[[tool:{tool}:{json.dumps(arguments)}]] for {user}"


def sent(stub: StubServer, user: str) -> list[Recorded]:
    return stub.requests(f"for {user}")


async def test_the_model_calls_an_mcp_tool_and_the_result_reaches_it_and_the_reply(
    mcp_stack: RunningStack, stub: StubServer, user: str
) -> None:
    reply = ask(mcp_stack.app, user, calling("tools__echo", {"text": f"hi {user}"}, user))
    assert reply == f"tool tools__echo said: echo: hi {user}"

    first, second = sent(stub, user)
    offered = {f["name"]: f for f in first.functions}
    listed = {t.name: t for t in await SERVER.list_tools()}
    # Built-ins the profile grants, every tool of `tools`, the one of `web`; `dead` has none.
    assert set(offered) == (
        {"current_time", "web__echo"} | {f"tools__{n}".replace(".", "_") for n in listed}
    )
    # Schemas reach the model as the server wrote them.
    for name, tool in listed.items():
        assert offered[f"tools__{name}".replace(".", "_")]["parameters"] == tool.input_schema
    (result,) = [m for m in second.messages if m["role"] == "tool"]
    assert result["content"] == f"echo: hi {user}"
    calls = mcp_stack.app.get(f"/chat/{user}/calls", params={"agent": "mcp"}).json()["calls"]
    assert [c["tool_calls"][0]["name"] for c in calls if c["tool_calls"]] == ["tools__echo"]


def test_a_tool_over_streamable_http(mcp_stack: RunningStack, stub: StubServer, user: str) -> None:
    reply = ask(mcp_stack.app, user, calling("web__echo", {"text": "over http"}, user))
    assert reply == "tool web__echo said: echo: over http"


def test_a_result_is_cut_to_the_servers_bound(
    mcp_stack: RunningStack, stub: StubServer, user: str
) -> None:
    ask(mcp_stack.app, user, calling("tools__text_big", {"chars": 20_000}, user))
    (result,) = [m for m in sent(stub, user)[-1].messages if m["role"] == "tool"]
    assert result["content"] == (
        "y" * MAX_RESULT_CHARS + f"\n[cut: 20000 characters, the first {MAX_RESULT_CHARS} shown]"
    )


def test_a_tool_error_result_goes_back_to_the_model(
    mcp_stack: RunningStack, stub: StubServer, user: str
) -> None:
    reply = ask(mcp_stack.app, user, calling("tools__fail", {"reason": "not today"}, user))
    said = json.loads(reply.removeprefix("tool tools__fail said: "))
    assert said == {"error": "Error executing tool fail: refused: not today"}


def test_an_mcp_tool_that_needs_approval_runs_once_approved(
    mcp_stack: RunningStack, stub: StubServer, user: str
) -> None:
    app = mcp_stack.app
    content = calling("tools__echo", {"text": "guarded"}, user)
    started = time.monotonic()
    resp = app.post(f"/chat/{user}", json={"role": "user", "content": content, "agent": "guarded"})
    paused_s = time.monotonic() - started
    assert resp.status_code == 202, resp.text
    asked = resp.json()["approval"]
    assert (asked["tool"], json.loads(asked["arguments"])) == ("tools.echo", {"text": "guarded"})
    assert len(sent(stub, user)) == 1  # the tool has not run: no result went to the model
    location = resp.headers["Location"]
    decided = time.monotonic()
    approval = {"call_id": asked["call_id"], "approve": True}
    assert app.post(approval_url(location), json=approval).status_code == 202
    done = app.get(with_params(location, wait=30)).json()
    committed_s = time.monotonic() - decided
    assert done["status"] == "done", done
    assert done["response"]["content"] == "tool tools__echo said: echo: guarded"
    calls = app.get(f"/chat/{user}/calls", params={"agent": "guarded"}).json()["calls"]
    assert [c["purpose"] for c in calls] == ["reply", "tool_step"]
    call = calls[0]["tool_calls"][0]
    assert (call["name"], call["approved_by"], call["result"]) == (
        "tools__echo",
        "anonymous",
        "echo: guarded",
    )
    print(
        f"MCP tool with approval: 202 awaiting_approval after {paused_s * 1000:.0f} ms, "
        f"committed {committed_s * 1000:.0f} ms after the approval; {len(calls)} calls recorded"
    )


def test_a_lone_surrogate_in_a_paused_calls_arguments_is_shown_cleaned(
    mcp_stack: RunningStack, stub: StubServer, user: str
) -> None:
    # The model's arguments for a tool that needs approval hold a lone surrogate ("\ud800" in
    # its JSON): the 202 and the turn's state show them, as UTF-8 JSON, with U+FFFD instead.
    app = mcp_stack.app
    content = "[[surrogate]]" + calling("tools__echo", {"text": "guarded"}, user)
    resp = app.post(f"/chat/{user}", json={"role": "user", "content": content, "agent": "guarded"})
    assert resp.status_code == 202, resp.text
    cleaned = {"text": "half a pair: \ufffd guarded"}
    assert json.loads(resp.json()["approval"]["arguments"]) == cleaned
    location = resp.headers["Location"]
    assert json.loads(app.get(location).json()["approval"]["arguments"]) == cleaned
    call_id = resp.json()["approval"]["call_id"]
    approval = {"call_id": call_id, "approve": True}
    assert app.post(approval_url(location), json=approval).status_code == 202
    done = app.get(with_params(location, wait=30)).json()
    assert done["status"] == "done", done
    assert done["response"]["content"] == "tool tools__echo said: echo: half a pair: \ufffd guarded"
    calls = app.get(f"/chat/{user}/calls", params={"agent": "guarded"})
    assert calls.status_code == 200, calls.text
    assert json.loads(calls.json()["calls"][0]["tool_calls"][0]["arguments"]) == cleaned


def test_a_server_that_does_not_start_leaves_the_turn_its_other_tools(
    mcp_stack: RunningStack, stub: StubServer, user: str
) -> None:
    reply = ask(mcp_stack.app, user, f"plain question for {user}")
    assert reply == f"stub reply to: plain question for {user}"
    (request,) = sent(stub, user)
    names = [f["name"] for f in request.functions]
    assert "tools__echo" in names
    assert not [n for n in names if n.startswith("dead__")]


def test_a_server_that_dies_in_a_call_is_a_tool_error_and_is_started_again(
    mcp_stack: RunningStack, stub: StubServer, user: str
) -> None:
    before = ask(mcp_stack.app, user, calling("tools__pid", {}, f"{user}-1"))
    reply = ask(mcp_stack.app, user, calling("tools__crash", {}, f"{user}-2"))
    said = json.loads(reply.removeprefix("tool tools__crash said: "))
    assert said["error"].startswith("the MCP server 'tools' failed to run 'crash'"), said
    # The turn was a normal one: committed, with its reply.
    history = mcp_stack.app.get(f"/chat/{user}/history", params={"agent": "mcp"}).json()
    assert history["total"] == 4
    after = ask(mcp_stack.app, user, calling("tools__pid", {}, f"{user}-3"))
    assert after.startswith("tool tools__pid said: ")
    assert after != before
