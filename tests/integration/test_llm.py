"""The LLM engine on the real stack, against a real local OpenAI-protocol server (the stub).

The app runs its production path: AsyncOpenAI over HTTP to ``tools/openai_stub``. Behaviours
are picked per message with the stub's markers (``[[fail503]]``, ``[[delay:1]]``, ...), so the
one stack of this module serves every test.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tools.openai_stub.server import StubServer

from tests.integration.chat_client import chat, count, eventually, history, memory
from tests.integration.stack_fixture import RunningStack, start_stack
from tests.sse import events_of

MODEL = "stub-model"
MAX_REPAIRS = 2


@pytest.fixture(scope="module")
def llm(stub: StubServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    env = {
        "OPENAI_BASE_URL": stub.url,
        "OPENAI_API_KEY": "test-key",
        "OPENAI_MODEL": MODEL,
        "AGENT_ACTORS_LLM__TIMEOUT_S": "2",
        "AGENT_ACTORS_LLM__MAX_RETRIES": "1",
        "AGENT_ACTORS_LLM__RETRY_BACKOFF_S": "0.1",
        "AGENT_ACTORS_LLM__TURN_TIMEOUT_S": "15",
        "AGENT_ACTORS_LLM__MAX_REPAIRS": str(MAX_REPAIRS),
    }
    # Small pages and a short prompt window, so the search tool has to reach older pages. The
    # outbox reminder stays armed between a user's turns (as it does for an active user) so
    # the timed test measures turns, not the scheduler re-arming a reminder per turn.
    run_dir = tmp_path_factory.mktemp("llm-stack")
    yield from start_stack(
        run_dir, extra_env=env, prompt_history=2, history_page_size=4, republish_interval_s=30
    )


def peak_overlap(spans: list[tuple[float, float | None]]) -> int:
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans if end])
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return peak


def post(app: httpx.Client, user: str, content: str) -> httpx.Response:
    return app.post(f"/chat/{user}", json={"role": "user", "content": content})


def calls(app: httpx.Client, user: str, **params: int) -> dict[str, Any]:
    resp = app.get(f"/chat/{user}/calls", params=params)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def assert_clean_failure(llm: RunningStack, user: str, status: int, code: str, text: str) -> None:
    """The caller gets the 5xx; no half turn is left; the next turn works as the first."""
    resp = post(llm.app, user, text)
    assert resp.status_code == status, resp.text
    assert resp.json()["code"] == code
    assert history(llm.app, user)["total"] == 0
    assert count(llm.app, user) == 0
    after = chat(llm.app, user, f"and now? {user}")
    assert after["response"]["content"] == f"stub reply to: and now? {user}"
    page = history(llm.app, user)
    assert page["total"] == 2
    assert [e["content"] for e in page["history"]] == [
        f"and now? {user}",
        f"stub reply to: and now? {user}",
    ]
    assert count(llm.app, user) == 1


def test_reply_comes_from_the_model_with_the_prompt_it_should(
    llm: RunningStack, stub: StubServer, user: str
) -> None:
    first = chat(llm.app, user, f"hello {user}")
    assert first["response"]["content"] == f"stub reply to: hello {user}"
    chat(llm.app, user, f"again {user}")

    sent = stub.requests(f"again {user}")[-1]
    assert sent.authorization == "Bearer test-key"
    assert sent.tools == ["current_time", "search_history"]
    roles = [(m["role"], m["content"]) for m in sent.messages]
    assert roles[0][0] == "system"
    # The recent window (prompt_history=2): the previous turn, then the new message.
    assert roles[-3:] == [
        ("user", f"hello {user}"),
        ("assistant", f"stub reply to: hello {user}"),
        ("user", f"again {user}"),
    ]
    recorded = calls(llm.app, user)
    assert recorded["total"] == 2
    for record in recorded["calls"]:
        assert record["model"] == MODEL
        assert record["status"] == "ok"
        assert record["tokens_in"] > 0
        assert record["tokens_out"] > 0
        assert record["latency_ms"] >= 0
    assert [r["seq"] for r in recorded["calls"]] == [1, 2]
    assert count(llm.app, user) == 2
    # The turn also feeds memory through the event, as every turn does.
    eventually(lambda: memory(llm.app, user), lambda m: len(m) >= 2)


async def test_twenty_users_waiting_on_a_slow_model_run_in_parallel(
    llm: RunningStack, stub: StubServer, user: str
) -> None:
    users = [f"{user}-{i}" for i in range(20)]
    async with httpx.AsyncClient(base_url=llm.app_url, timeout=60) as client:

        async def turn(u: str, content: str) -> httpx.Response:
            return await client.post(f"/chat/{u}", json={"content": content})

        # First activations (60 actors, their state reads) are not what this measures.
        await asyncio.gather(*(turn(u, f"warm up {u}") for u in users))
        started = time.monotonic()
        replies = await asyncio.gather(*(turn(u, f"[[delay:1]] slow {u}") for u in users))
        elapsed = time.monotonic() - started
    assert [r.status_code for r in replies] == [200] * 20, [r.text for r in replies]
    assert [r.json()["response"]["content"] for r in replies] == [
        f"stub reply to: slow {u}" for u in users
    ]
    # The model calls overlapped (serialised, at most one would be in flight at a time).
    spans = [(r.started, r.ended) for r in stub.requests(f"slow {user}-")]
    assert len(spans) == 20
    assert peak_overlap(spans) >= 5, spans
    print(f"20 users x 1 s model calls: {elapsed:.2f} s")  # shown with -s
    # Serially this is 20 s; the acceptance bound is 5 s.
    assert elapsed < 5, elapsed


async def test_one_users_turns_stay_serial(llm: RunningStack, stub: StubServer, user: str) -> None:
    async with httpx.AsyncClient(base_url=llm.app_url, timeout=60) as client:
        replies = await asyncio.gather(
            *(
                client.post(f"/chat/{user}", json={"content": f"[[delay:0.5]] {user} turn {i}"})
                for i in range(4)
            )
        )
    assert [r.status_code for r in replies] == [200] * 4
    spans = sorted((r.started, r.ended) for r in stub.requests(user))
    assert len(spans) == 4
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end is not None
        assert end <= start, spans
    page = history(llm.app, user, limit=8)
    assert page["total"] == 8
    # Each turn saw the one before it committed (the window holds one earlier turn).
    turns = [[m for m in r.messages if m["role"] != "system"] for r in stub.requests(user)]
    assert sorted(len(t) for t in turns) == [1, 3, 3, 3]


def test_model_down_is_a_503_with_no_half_turn(llm: RunningStack, user: str) -> None:
    assert_clean_failure(llm, user, 503, "responder_unavailable", f"[[fail503]] {user}")
    failed = [c for c in calls(llm.app, user)["calls"] if c["status"] == "error"]
    # One request and one retry, both recorded.
    assert [c["attempt"] for c in failed] == [1, 2]
    assert all("503" in c["error"] for c in failed)


def test_model_error_is_a_502(llm: RunningStack, user: str) -> None:
    assert_clean_failure(llm, user, 502, "responder_error", f"[[fail500]] {user}")


def test_model_answering_garbage_is_a_502(llm: RunningStack, user: str) -> None:
    assert_clean_failure(llm, user, 502, "responder_error", f"[[garbage]] {user}")


def test_model_timing_out_is_a_504(llm: RunningStack, user: str) -> None:
    assert_clean_failure(llm, user, 504, "responder_timeout", f"[[hang]] {user}")
    timed_out = [c for c in calls(llm.app, user)["calls"] if c["status"] == "error"]
    assert len(timed_out) == 2
    assert all("responder_timeout" in c["error"] for c in timed_out)


def test_a_transient_failure_is_retried_and_recorded(llm: RunningStack, user: str) -> None:
    reply = chat(llm.app, user, f"[[flaky:1]] {user}")
    assert reply["response"]["content"] == f"stub reply to: {user}"
    recorded = calls(llm.app, user)["calls"]
    assert [(c["attempt"], c["status"]) for c in recorded] == [(1, "error"), (2, "ok")]


def test_invalid_tool_calls_get_bounded_repairs_then_a_502(llm: RunningStack, user: str) -> None:
    assert_clean_failure(llm, user, 502, "responder_error", f"[[bad_tool_args]] {user}")
    recorded = calls(llm.app, user)["calls"]
    # The failed turn's records; the next turn (the same seq, as nothing was committed) follows.
    invalid = recorded[: 1 + MAX_REPAIRS]
    assert [c["purpose"] for c in invalid] == ["reply"] + ["repair"] * MAX_REPAIRS
    assert all(c["status"] == "invalid" for c in invalid)
    assert all("not JSON" in c["tool_calls"][0]["error"] for c in invalid)


def test_an_unknown_tool_is_repaired(llm: RunningStack, stub: StubServer, user: str) -> None:
    reply = chat(llm.app, user, f"[[bad_tool_once]] {user}")
    assert reply["response"]["content"] == f"stub reply to: {user}"
    recorded = calls(llm.app, user)["calls"]
    assert [(c["purpose"], c["status"]) for c in recorded] == [
        ("reply", "invalid"),
        ("repair", "ok"),
    ]
    assert recorded[0]["tool_calls"][0]["name"] == "no_such_tool"
    assert "no tool named 'no_such_tool'" in recorded[0]["error"]
    assert stub.requests(user)[-1].repair


def test_a_tool_loop_is_cut_at_the_step_limit(llm: RunningStack, user: str) -> None:
    assert_clean_failure(llm, user, 502, "responder_error", f"[[tool_loop]] {user}")


def test_the_model_reads_the_time_through_a_tool(llm: RunningStack, user: str) -> None:
    reply = chat(llm.app, user, f"[[tool:current_time]] what time is it {user}")
    assert reply["response"]["content"].startswith('tool current_time said: {"utc": "20')
    recorded = calls(llm.app, user)["calls"]
    assert [(c["purpose"], [t["name"] for t in c["tool_calls"]]) for c in recorded] == [
        ("reply", ["current_time"]),
        ("tool_step", []),
    ]


def test_the_model_searches_this_users_older_history(llm: RunningStack, user: str) -> None:
    chat(llm.app, user, f"my cat is called Zorblax {user}")
    for i in range(4):  # push it out of the prompt window and onto an older page
        chat(llm.app, user, f"filler {i}")
    reply = chat(llm.app, user, "[[tool:search_history:zorblax]] what is my cat called?")
    content = reply["response"]["content"]
    assert content.startswith("tool search_history said: ")
    found = json.loads(content.removeprefix("tool search_history said: "))["matches"]
    assert {"role": "user", "content": f"my cat is called Zorblax {user}"} in found
    # Another user's history is not searched.
    other = chat(llm.app, f"{user}-other", "[[tool:search_history:zorblax]] mine?")
    assert json.loads(other["response"]["content"].split("said: ", 1)[1]) == {"matches": []}


def sse_events(
    resp: httpx.Response, stop_after: int | None = None
) -> list[tuple[str, dict[str, Any]]]:
    return events_of(resp, stop_after)


def test_stream_tokens_add_up_to_the_committed_reply(llm: RunningStack, user: str) -> None:
    chat(llm.app, user, f"first {user}")
    text = f"please stream a reply with several words {user}"
    with llm.app.stream("POST", f"/chat/{user}/stream", json={"content": text}) as resp:
        assert resp.status_code == 200
        assert resp.headers["content-type"].startswith("text/event-stream")
        events = sse_events(resp)
    tokens = [e["text"] for name, e in events if name == "token"]
    assert len(tokens) > 3
    name, done = events[-1]
    assert name == "done"
    assert "".join(tokens) == done["content"] == f"stub reply to: {text}"
    assert done["seq"] == 2
    # Committed exactly as POST /chat commits: history, count, event -> memory, call record.
    assert history(llm.app, user)["history"][-1]["content"] == done["content"]
    assert count(llm.app, user) == 2
    eventually(lambda: memory(llm.app, user), lambda m: done["content"] in str(m))
    last = calls(llm.app, user)["calls"][-1]
    assert last["stream"] is True
    assert last["tokens_out"] == len(tokens)


def test_a_streamed_turn_with_a_tool_call(llm: RunningStack, user: str) -> None:
    body = {"content": f"[[tool:current_time]] time please {user}"}
    with llm.app.stream("POST", f"/chat/{user}/stream", json=body) as resp:
        events = sse_events(resp)
    name, done = events[-1]
    assert name == "done"
    text = ""
    for kind, data in events[:-1]:
        text = "" if kind == "reset" else text + data["text"]
    assert text == done["content"]
    assert done["content"].startswith("tool current_time said:")


def test_stream_failure_before_any_token_is_a_plain_5xx(llm: RunningStack, user: str) -> None:
    resp = llm.app.post(f"/chat/{user}/stream", json={"content": f"[[fail503]] {user}"})
    assert resp.status_code == 503
    assert resp.json()["code"] == "responder_unavailable"
    assert history(llm.app, user)["total"] == 0


def test_a_client_leaving_mid_stream_leaves_a_consistent_history(
    llm: RunningStack, user: str
) -> None:
    text = f"[[token_delay:0.2]] one two three four five six seven eight {user}"
    with llm.app.stream("POST", f"/chat/{user}/stream", json={"content": text}) as resp:
        first = sse_events(resp, stop_after=2)
    assert [name for name, _ in first] == ["token", "token"]
    # The turn was not cancelled with the connection: it commits, once, in full.
    page = eventually(lambda: history(llm.app, user), lambda h: h["total"] == 2)
    assert [e["content"] for e in page["history"]] == [
        text,
        f"stub reply to: {text.removeprefix('[[token_delay:0.2]] ')}",
    ]
    assert count(llm.app, user) == 1
    chat(llm.app, user, "next")
    assert history(llm.app, user)["total"] == 4


def test_calls_are_paged(llm: RunningStack, user: str) -> None:
    for i in range(3):
        chat(llm.app, user, f"page {i}")
    newest = calls(llm.app, user, limit=2)
    assert newest["total"] == 3
    assert [c["seq"] for c in newest["calls"]] == [2, 3]
    assert newest["next_before"] == 1
    older = calls(llm.app, user, limit=2, before=newest["next_before"])
    assert [c["seq"] for c in older["calls"]] == [1]
    assert older["next_before"] is None
