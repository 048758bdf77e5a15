"""Several agents in one session, on the real stack (the offline responder, the packaged
agents file: ``assistant`` the default, ``support`` another, whose replies start with
``[support] ``).

Each agent talks in its own thread of the session: its own history, memory (each turn
once, in order), reply count, idempotency keys and turn order; the session's own thread is
the tutorial's conversation, unchanged. DELETE with ``?agent=`` erases one thread, without
it the whole session, down to the last Redis key.
"""

from __future__ import annotations

from typing import Any

import httpx

from tests.integration.chat_client import eventually
from tests.integration.stack_fixture import RunningStack
from tests.integration.test_erase import traces

SUPPORT = {"agent": "support"}


def post(
    app: httpx.Client, user: str, content: str, agent: str | None = None, **extra: Any
) -> httpx.Response:
    body: dict[str, Any] = {"role": "user", "content": content}
    if agent is not None:
        body["agent"] = agent
    resp = app.post(f"/chat/{user}", json=body, **extra)
    assert resp.status_code in (200, 202), resp.text
    return resp


def reply(app: httpx.Client, user: str, content: str, agent: str | None = None) -> str:
    text: str = post(app, user, content, agent).json()["response"]["content"]
    return text


def get(app: httpx.Client, path: str, agent: str | None = None, **params: Any) -> Any:
    query = {**params, **({} if agent is None else {"agent": agent})}
    # (Without params: a query in ``path`` itself, as a Location has, is kept.)
    resp = app.get(path, params=query or None)
    assert resp.status_code == 200, resp.text
    return resp.json()


def entries(app: httpx.Client, user: str, agent: str | None = None) -> list[str]:
    history = get(app, f"/chat/{user}/history", agent, limit=50)["history"]
    return [m["content"] for m in history]


def two_agents(app: httpx.Client, user: str) -> None:
    """Two turns with the default agent and three with support, interleaved."""
    for i in range(3):
        if i < 2:
            assert reply(app, user, f"plain {i}").startswith("Memory: ")
        assert reply(app, user, f"support {i}", "support").startswith("[support] ")


def test_two_agents_keep_their_own_history_memory_and_count(stack: RunningStack, user: str) -> None:
    app = stack.app
    two_agents(app, user)
    plain, support = entries(app, user), entries(app, user, "support")
    assert plain[::2] == ["plain 0", "plain 1"]
    assert support[::2] == ["support 0", "support 1", "support 2"]
    # Each thread's turns are its own: its first reply counts one message.
    assert support[1].startswith("[support] Memory: Message count: 1. ")
    assert plain[3].startswith("Memory: user: plain 0; ")
    # Memory applies each thread's turns once, in order: its window is its history's tail.
    for agent, history in ((None, plain), ("support", support)):
        window = eventually(
            lambda agent=agent: get(app, f"/memory/{user}", agent)["memory"],
            lambda w, history=history: [m["content"] for m in w] == history[-3:],
        )
        assert len(window) == 3
        view = get(app, f"/chat/{user}", agent)
        assert view["memory_last_seq"] == view["turns"] == len(history) // 2
        assert get(app, f"/memory/{user}/dead-letters", agent)["total"] == 0
    assert get(app, f"/response/{user}/count") == {"count": 2}
    assert get(app, f"/response/{user}/count", "support") == {"count": 3}
    # The export of a thread is that thread.
    lines = app.get(f"/chat/{user}/export", params=SUPPORT).text.splitlines()
    assert sum('"type": "entry"' in line for line in lines) == 6


def test_the_session_lists_its_agents_and_the_default_routes_are_unchanged(
    stack: RunningStack, user: str
) -> None:
    app = stack.app
    assert get(app, f"/chat/{user}")["agents"] == [
        {"agent": "assistant", "turns": 0, "last_activity": None}
    ]
    two_agents(app, user)
    view = get(app, f"/chat/{user}")
    assert (view["id"], view["agent"], view["turns"], view["replies"]) == (
        user,
        "assistant",
        2,
        2,
    )
    assert [(a["agent"], a["turns"]) for a in view["agents"]] == [("assistant", 2), ("support", 3)]
    support = get(app, f"/chat/{user}", "support")
    assert (support["agent"], support["turns"], support["replies"]) == ("support", 3, 3)
    assert support["agents"] == view["agents"]
    # The default named is the session's own thread.
    assert get(app, f"/chat/{user}/history", "assistant") == get(app, f"/chat/{user}/history")
    # A named agent's long turn is polled where its Location says.
    later = post(app, user, "later", "support", headers={"Prefer": "respond-async"})
    assert later.status_code == 202
    assert later.headers["Location"] == f"/chat/{user}/turns/4?agent=support"
    done = get(app, later.headers["Location"] + "&wait=10")
    assert done["status"] == "done"
    assert done["response"]["content"].startswith("[support] ")
    plain = post(app, user, "later", headers={"Prefer": "respond-async"})
    assert plain.headers["Location"] == f"/chat/{user}/turns/3"
    # GET /sessions: each thread under its session, with its agent (turns as of the index's
    # latest update, at its first turn here: the stack's buckets are long).
    listed = sessions_of(app, user)
    assert sorted(agent for agent, _turns in listed) == ["", "support"]
    assert all(turns >= 1 for _agent, turns in listed)


def sessions_of(app: httpx.Client, user: str) -> list[tuple[str, int]]:
    """The session's entries in GET /sessions, every page read."""
    found, after = [], None
    while True:
        page = get(app, "/sessions", limit=200, **({} if after is None else {"after": after}))
        found += [(s["agent"] or "", s["turns"]) for s in page["sessions"] if s["id"] == user]
        after = page["next_after"]
        if after is None:
            return found


def test_an_idempotency_key_belongs_to_its_thread(stack: RunningStack, user: str) -> None:
    app = stack.app
    key = {"Idempotency-Key": "same-key"}
    first = post(app, user, "once", "support", headers=key)
    repeat = post(app, user, "once", "support", headers=key)
    assert repeat.headers["Idempotent-Replayed"] == "true"
    assert (repeat.json(), repeat.headers["Turn-Seq"]) == (first.json(), "1")
    plain = post(app, user, "once", headers=key)
    assert "Idempotent-Replayed" not in plain.headers
    assert plain.json()["response"]["content"].startswith("Memory: ")
    assert len(entries(app, user, "support")) == len(entries(app, user)) == 2


def test_delete_with_agent_erases_one_thread_and_without_the_whole_session(
    stack: RunningStack, user: str
) -> None:
    app = stack.app
    two_agents(app, user)
    thread = f"{user}~support"
    eventually(lambda: get(app, f"/chat/{user}", "support")["memory_last_seq"], lambda n: n == 3)
    assert any(f"||ChatAgent||{thread}||" in k for k in stack.redis.scan_iter(f"*{thread}*"))
    assert stack.redis.exists(f"agent-actors||session-agents|{user}")

    assert app.delete(f"/chat/{user}", params=SUPPORT).status_code == 204
    assert traces(stack, thread, streams=False) == []
    assert entries(app, user, "support") == []
    assert len(entries(app, user)) == 4
    assert [a["agent"] for a in get(app, f"/chat/{user}")["agents"]] == ["assistant"]

    assert reply(app, user, "back", "support").startswith("[support] Memory: Message count: 1.")
    assert app.delete(f"/chat/{user}").status_code == 204
    assert app.delete(f"/chat/{user}").status_code == 204  # idempotent
    # Nothing of the session is left (the pub/sub streams keep the events they carried).
    assert traces(stack, user, streams=False) == []
    assert get(app, f"/chat/{user}")["agents"] == [
        {"agent": "assistant", "turns": 0, "last_activity": None}
    ]
