"""Real text and retries on the real stack: text is data, a retry never duplicates a turn.

The app runs its production path (AsyncOpenAI against the OpenAI-protocol stub), so replies
are what a model wrote: the stub's ``[[verbatim]]`` marker answers with the message itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tools.openai_stub.server import StubServer

from tests.integration.chat_client import approval_url, eventually, history, memory, with_params
from tests.integration.stack_fixture import TEST_TOKEN, RunningStack, start_stack
from tests.sse import events_of

# Strings the SDK's default JSON decoder turned into timedelta/datetime (or raised on).
TRICKY = ["10s", "5m", "1h", "2024-01-01", "2024-01-01 is my birthday", "1h30m", "0001-01-01"]
TRICKY_IDS = ["2024-01-01", "10s", "5m"]
MAX_REPLY = 2000
# The packaged default, and a profile whose search needs a person's approval: a paused turn
# shows the model's tool arguments (in the 202 and at its Location).
AGENTS = """\
default: assistant
agents:
  assistant:
    tools: [current_time, search_history]
  guarded:
    tools: [current_time, {name: search_history, approval: required}]
"""


@pytest.fixture(scope="module")
def text_stack(
    stub: StubServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningStack]:
    run_dir = tmp_path_factory.mktemp("text-stack")
    agents = run_dir / "agents.yaml"
    agents.write_text(AGENTS)
    env = {
        "OPENAI_BASE_URL": stub.url,
        "OPENAI_API_KEY": "test-key",
        "AGENT_ACTORS_LLM__MAX_RETRIES": "0",
        "AGENT_ACTORS_AGENTS__FILE": str(agents),
    }
    yield from start_stack(run_dir, extra_env=env, max_reply_chars=MAX_REPLY)


def post(
    app: httpx.Client, user: str, content: Any, key: str | None = None, path: str = ""
) -> httpx.Response:
    headers = {"Idempotency-Key": key} if key is not None else {}
    return app.post(
        f"/chat/{user}{path}", json={"role": "user", "content": content}, headers=headers
    )


def deactivate(stack: RunningStack, user: str) -> None:
    """What daprd does to an idle actor: the next call loads it again from Redis."""
    for actor_type, actor_id in (
        ("ChatAgent", user),
        ("ResponseAgent", user),
        ("MemoryAgentActor", user),
    ):
        resp = stack.app.delete(
            f"/actors/{actor_type}/{actor_id}", headers={"dapr-api-token": TEST_TOKEN}
        )
        assert resp.status_code == 200, resp.text


def entries(stack: RunningStack, user: str) -> list[dict[str, Any]]:
    return list(history(stack.app, user, limit=200)["history"])


def test_text_that_looks_like_dates_or_durations_round_trips(
    text_stack: RunningStack, user: str
) -> None:
    sent = [f"[[verbatim]]{text}" for text in TRICKY]
    for content in sent:
        resp = post(text_stack.app, user, content)
        assert resp.status_code == 200, resp.text
        # The model's reply starts with the date or duration too.
        assert resp.json()["response"]["content"] == content.removeprefix("[[verbatim]]")
    expected = [
        m
        for c in sent
        for m in (
            {"role": "user", "content": c},
            {"role": "assistant", "content": c.removeprefix("[[verbatim]]")},
        )
    ]
    assert entries(text_stack, user) == expected
    eventually(lambda: memory(text_stack.app, user), lambda m: m == expected[-3:])
    deactivate(text_stack, user)
    assert entries(text_stack, user) == expected
    assert memory(text_stack.app, user) == expected[-3:]
    calls = text_stack.app.get(f"/chat/{user}/calls").json()
    assert calls["total"] == len(TRICKY)
    # Reading the call log keeps none of its pages in the app: the count, the log's meta and
    # the page the next record lands on.
    cached = text_stack.app.get(f"/inspect/{user}/cache").json()["ResponseAgent"]
    current = f"calls-{len(TRICKY) // text_stack.settings.llm.calls_page_size}"
    assert set(cached) <= {"stats", "calls-meta", current}, cached
    # And the next turn, on the reloaded actors, reads the same history to build its prompt.
    assert post(text_stack.app, user, "[[verbatim]]10s again").status_code == 200
    assert entries(text_stack, user)[-1]["content"] == "10s again"


@pytest.mark.parametrize("user_id", TRICKY_IDS)
def test_user_ids_that_look_like_dates_or_durations_get_memory(
    text_stack: RunningStack, user_id: str
) -> None:
    before = len(entries(text_stack, user_id))
    resp = post(text_stack.app, user_id, f"[[verbatim]]hello from {user_id}")
    assert resp.status_code == 200, resp.text
    assert len(entries(text_stack, user_id)) == before + 2
    want = f"hello from {user_id}"
    eventually(
        lambda: memory(text_stack.app, user_id), lambda m: bool(m) and m[-1]["content"] == want
    )
    stats = text_stack.app.get("/events/stats").json()
    assert stats["dead_letters"] == 0


def test_a_lone_surrogate_is_refused_before_anything_is_saved(
    text_stack: RunningStack, user: str
) -> None:
    body = b'{"role": "user", "content": "x\\ud800"}'
    resp = text_stack.app.post(
        f"/chat/{user}", content=body, headers={"content-type": "application/json"}
    )
    assert resp.status_code == 422, resp.text
    assert "Unicode" in resp.json()["detail"]
    assert history(text_stack.app, user)["total"] == 0
    # A model reply with one is stored with U+FFFD instead; the user's history stays readable.
    resp = post(text_stack.app, user, "[[surrogate]]hi")
    assert resp.status_code == 200, resp.text
    assert entries(text_stack, user)[-1]["content"] == "half a pair: \ufffd hi"
    eventually(lambda: history(text_stack.app, user)["pending_events"], lambda n: n == 0)


def test_a_lone_surrogate_in_tool_arguments_is_cleaned_like_a_reply(
    text_stack: RunningStack, stub: StubServer, user: str
) -> None:
    # The model asks for a tool that needs approval, its arguments' text holding a lone
    # surrogate: the turn pauses, and the 202 shows the arguments (UTF-8 JSON).
    app = text_stack.app
    body = {"role": "user", "content": f"[[tool:search_history:earlier]][[surrogate]] {user}"}
    resp = app.post(f"/chat/{user}", json={**body, "agent": "guarded"})
    assert resp.status_code == 202, resp.text
    cleaned = '{"query": "half a pair: \ufffd earlier"}'
    assert resp.json()["approval"]["arguments"] == cleaned
    location = resp.headers["Location"]
    assert app.get(location).json()["approval"]["arguments"] == cleaned
    call_id = resp.json()["approval"]["call_id"]
    approval = {"call_id": call_id, "approve": True}
    assert app.post(approval_url(location), json=approval).status_code == 202
    done = eventually(
        lambda: app.get(with_params(location, wait=10)).json(), lambda t: t["status"] != "pending"
    )
    assert done["status"] == "done", done
    assert done["response"]["content"].startswith("tool search_history said: ")
    # The resumed request carried the cleaned arguments back to the model.
    resumed = stub.requests(user)[-1]
    asked = [m["tool_calls"][0]["function"] for m in resumed.messages if m.get("tool_calls")]
    assert (resumed.tool_results, asked[-1]["arguments"]) == (1, cleaned)
    calls = app.get(f"/chat/{user}/calls", params={"agent": "guarded"})
    assert calls.status_code == 200, calls.text
    recorded = [c for r in calls.json()["calls"] for c in r["tool_calls"]]
    assert [c["arguments"] for c in recorded] == [cleaned]


def test_a_reply_over_the_limit_is_a_502_and_saves_nothing(
    text_stack: RunningStack, user: str
) -> None:
    assert post(text_stack.app, user, "first").status_code == 200
    count_before = text_stack.app.get(f"/response/{user}/count").json()["count"]
    resp = post(text_stack.app, user, f"[[long:{MAX_REPLY + 1}]]")
    assert resp.status_code == 502, resp.text
    assert resp.json()["code"] == "reply_too_large"
    assert history(text_stack.app, user)["total"] == 2
    assert text_stack.app.get(f"/response/{user}/count").json()["count"] == count_before
    assert post(text_stack.app, user, f"[[long:{MAX_REPLY}]]").status_code == 200


def test_a_repeated_idempotency_key_returns_the_committed_turn(
    text_stack: RunningStack, user: str
) -> None:
    first = post(text_stack.app, user, "book a table", key="k-1")
    assert first.status_code == 200, first.text
    assert first.headers["Turn-Seq"] == "1"
    again = post(text_stack.app, user, "book a table", key="k-1")
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert again.headers["Turn-Seq"] == "1"
    assert again.headers["Idempotent-Replayed"] == "true"
    assert history(text_stack.app, user)["total"] == 2
    assert text_stack.app.get(f"/response/{user}/count").json()["count"] == 1
    conflict = post(text_stack.app, user, "book two tables", key="k-1")
    assert conflict.status_code == 422
    assert conflict.json()["code"] == "idempotency_conflict"
    # The stream route honours the same keys: the committed reply, nothing saved.
    streamed = post(text_stack.app, user, "book a table", key="k-1", path="/stream")
    assert streamed.status_code == 200, streamed.text
    events = events_of(streamed)
    assert events[-1] == ("done", {**first.json()["response"], "seq": 1})
    deactivate(text_stack, user)
    assert post(text_stack.app, user, "book a table", key="k-1").json() == first.json()
    assert history(text_stack.app, user)["total"] == 2
    assert post(text_stack.app, user, "book a table", key="k-2").headers["Turn-Seq"] == "2"
    assert post(text_stack.app, user, "x", key="").status_code == 422
