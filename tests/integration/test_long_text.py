"""Long non-ASCII conversations on the real stack: reads and turns stay under daprd's max body
size however the text is written.

Actor payloads are JSON with ``ensure_ascii``: an emoji takes 12 bytes. 50 turns of 8,000
emoji each way (the most a message may hold, and a model reply as long) are ~10 MB of history,
more than twice daprd's default max body size (4 MiB). Two app+daprd pairs: an actor call
answered by the other pair's actor crosses daprd's internal gRPC, bounded by that size both
ways (a call to an actor of the same pair is bounded on its request only), so every read is
made through each pair's app. The model is the OpenAI-protocol stub, replying 8,000 emoji.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from tools.openai_stub.server import StubServer

from tests.integration.chat_client import approval_url, with_params
from tests.integration.stack_fixture import RunningStack, start_stack

EMOJI = "\U0001f600"
CHARS = 8000
TURNS = 50
DEEP = "deep"
AGENTS = f"""
default: assistant
agents:
  assistant:
    description: The default (prompt history 10).
  {DEEP}:
    description: A whole conversation in every prompt, and a clock behind an approval.
    prompt_history: 100
    tools: [{{name: current_time, approval: required}}]
"""


@pytest.fixture(scope="module")
def long_stack(
    stub: StubServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    run_dir = tmp_path_factory.mktemp("long-text")
    agents = Path(run_dir) / "agents.yaml"
    agents.write_text(AGENTS)
    # Every reply (none of these messages has a marker) is 8,000 emoji.
    stub.state.mode = f"long:{CHARS}:{EMOJI}"
    env = {
        "OPENAI_BASE_URL": stub.url,
        "OPENAI_API_KEY": "test-key",
        "AGENT_ACTORS_LLM__MAX_RETRIES": "0",
        "AGENT_ACTORS_AGENTS__FILE": str(agents),
    }
    yield from start_stack(run_dir, extra_env=env, replicas=2)
    stub.state.mode = ""


@pytest.fixture(scope="module")
def apps(long_stack: RunningStack) -> Iterator[list[httpx.Client]]:
    """A client of each pair's app."""
    clients = [
        httpx.Client(base_url=f"http://127.0.0.1:{pair.app}", timeout=120)
        for pair in long_stack.pairs
    ]
    yield clients
    for client in clients:
        client.close()


def message(n: int) -> str:
    prefix = f"{n}:"
    return prefix + EMOJI * (CHARS - len(prefix))


def converse(app: httpx.Client, stub: StubServer, user: str, agent: str | None) -> str | None:
    """TURNS turns of 8,000 emoji each way, in ``agent``'s thread of the session (each turn
    names it) or the session's own; the first failure."""
    for n in range(TURNS):
        body: dict[str, Any] = {"role": "user", "content": message(n)}
        if agent is not None:
            body["agent"] = agent
        resp = app.post(f"/chat/{user}", json=body)
        # The stub keeps each request's messages (megabytes here): only the last is needed.
        del stub.state.requests[:-1]
        if resp.status_code != 200:
            return f"turn {n + 1}: {resp.status_code} {resp.text[:300]}"
        assert resp.json()["response"]["content"] == EMOJI * CHARS
    return None


@dataclass
class Conversations:
    plain: str
    deep: str
    failures: dict[str, str | None]


@pytest.fixture(scope="module")
def users(long_stack: RunningStack, stub: StubServer) -> Conversations:
    """Two conversations of TURNS turns, side by side (different users run in parallel): one
    on the default profile, one on a profile whose prompt history is 100 entries."""
    found = Conversations("long-plain", "long-deep", {})
    with ThreadPoolExecutor(2) as pool:
        runs = {
            found.plain: pool.submit(converse, long_stack.app, stub, found.plain, None),
            found.deep: pool.submit(converse, long_stack.app, stub, found.deep, DEEP),
        }
        found.failures = {user: run.result() for user, run in runs.items()}
    return found


def expected_entries() -> list[dict[str, str]]:
    return [
        entry
        for n in range(TURNS)
        for entry in (
            {"role": "user", "content": message(n)},
            {"role": "assistant", "content": EMOJI * CHARS},
        )
    ]


def test_history_limit_200_returns_every_entry_through_either_pair(
    apps: list[httpx.Client], users: Conversations
) -> None:
    assert users.failures[users.plain] is None
    for app in apps:
        resp = app.get(f"/chat/{users.plain}/history", params={"limit": 200})
        assert resp.status_code == 200, resp.text[:300]
        view = resp.json()
        assert (view["total"], view["next_before"]) == (2 * TURNS, None)
        assert view["history"] == expected_entries()


def test_the_export_has_every_entry_each_line_json_through_either_pair(
    apps: list[httpx.Client], users: Conversations
) -> None:
    assert users.failures[users.plain] is None
    for app in apps:
        resp = app.get(f"/chat/{users.plain}/export")
        assert resp.status_code == 200, resp.text[:300]
        lines = [json.loads(x) for x in resp.text.splitlines()]
        assert lines[-1]["type"] != "error", lines[-1]
        entries = [x for x in lines if x["type"] == "entry"]
        assert [x["index"] for x in entries] == list(range(2 * TURNS))
        got = [{"role": x["role"], "content": x["content"]} for x in entries]
        assert got == expected_entries()
        assert [x["type"] for x in lines[-TURNS:]] == ["call"] * TURNS


def test_a_turn_with_prompt_history_100_answers_with_the_whole_history_in_its_prompt(
    long_stack: RunningStack, stub: StubServer, users: Conversations
) -> None:
    assert users.failures[users.deep] is None
    resp = long_stack.app.post(f"/chat/{users.deep}", json={"content": "and now?", "agent": DEEP})
    assert resp.status_code == 200, resp.text[:300]
    assert resp.headers["Turn-Seq"] == str(TURNS + 1)
    (request,) = stub.requests(containing="and now?")
    # the system prompt and memory (system messages), the 100 entries before it, the message
    recent = [
        {"role": m["role"], "content": m["content"]}
        for m in request.messages[:-1]
        if m["role"] != "system"
    ]
    assert recent == expected_entries()
    assert request.messages[-1]["content"] == "and now?"


def test_a_turn_paused_for_an_approval_over_the_whole_history_resumes_with_it(
    long_stack: RunningStack, stub: StubServer, users: Conversations
) -> None:
    """A pause keeps the steps, not the prompt (~10 MB here): kept, it had to cross daprd in
    ResponseAgent's answer and the stored turn, and the turn was a 503."""
    assert users.failures[users.deep] is None
    app = long_stack.app
    body = {"content": "[[tool:current_time]] time?", "agent": DEEP}
    resp = app.post(f"/chat/{users.deep}", json=body)
    assert resp.status_code == 202, resp.text[:300]
    location = resp.headers["Location"]
    asked = app.get(location).json()
    assert asked["status"] == "awaiting_approval", asked
    decision = {"call_id": asked["approval"]["call_id"], "approve": True, "note": ""}
    decided = app.post(approval_url(location), json=decision)
    assert decided.status_code == 202, decided.text[:300]
    done = app.get(with_params(location, wait=60)).json()
    assert done["status"] == "done", done
    # The request after the approval had the whole history in its prompt again, then the
    # model's call and the tool's result.
    after = [r for r in stub.requests(containing="time?") if r.messages[-1]["role"] == "tool"]
    assert len(after) == 1
    recent = [
        {"role": m["role"], "content": m["content"]}
        for m in after[0].messages[:-3]
        if m["role"] != "system"
    ]
    view = app.get(f"/chat/{users.deep}/history", params={"limit": 200, "agent": DEEP}).json()
    committed = view["history"]
    # The 100 entries before this turn (the turn itself is the last two).
    assert len(recent) == 100
    assert recent == committed[-102:-2]
