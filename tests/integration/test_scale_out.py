"""Two app+daprd pairs on one placement (make run REPLICAS=2): any pair serves any user, a
stream gets its tokens whichever pair runs the reply, and a daprd that crashed and came back
never writes from a stale cache."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from tools.openai_stub.server import StubServer

from tests.integration.chat_client import eventually
from tests.integration.stack_fixture import RunningStack, start_stack
from tests.sse import events_of

USERS = 12


@pytest.fixture(scope="module")
def pairs(stub: StubServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    env = {
        "OPENAI_BASE_URL": stub.url,
        "OPENAI_API_KEY": "test-key",
        "AGENT_ACTORS_LLM__MAX_RETRIES": "0",
    }
    # A crashed daprd stays down 10 s before its restart: placement moves its actors to the
    # other pair meanwhile (the stale-cache scenario).
    yield from start_stack(
        tmp_path_factory.mktemp("pairs"),
        extra_env=env,
        replicas=2,
        stack_options={"restart_backoff_s": 10.0},
    )


@pytest.fixture(scope="module")
def apps(pairs: RunningStack) -> Iterator[list[httpx.Client]]:
    """A client of each pair's app."""
    clients = [
        httpx.Client(base_url=f"http://127.0.0.1:{pair.app}", timeout=60) for pair in pairs.pairs
    ]
    yield clients
    for client in clients:
        client.close()


def host_of(apps: list[httpx.Client], user: str, actor: str) -> int | None:
    """Which pair's app holds ``actor`` of ``user`` now (None: neither)."""
    for index, app in enumerate(apps):
        if app.get(f"/inspect/{user}/cache").json()[actor] is not None:
            return index
    return None


def history(app: httpx.Client, user: str) -> list[dict[str, str]]:
    resp = app.get(f"/chat/{user}/history", params={"limit": 200})
    assert resp.status_code == 200, resp.text
    return list(resp.json()["history"])


def test_any_pair_serves_any_user_and_placement_spreads_them(apps: list[httpx.Client]) -> None:
    users = [f"spread{i}" for i in range(USERS)]
    for turn in range(2):
        for i, user in enumerate(users):
            resp = apps[(i + turn) % 2].post(f"/chat/{user}", json={"content": f"t{turn}"})
            assert resp.status_code == 200, resp.text
            assert resp.headers["Turn-Seq"] == str(turn + 1)
    hosts = {host_of(apps, u, "ChatAgent") for u in users}
    assert hosts == {0, 1}  # placement put some users on each pair
    # ... and each user's three actors on one pair: a turn never crosses to the other one
    for user in users:
        homes = {host_of(apps, user, t) for t in ("ChatAgent", "ResponseAgent", "MemoryAgentActor")}
        assert len(homes) == 1, (user, homes)
    for user in users:
        assert [m["content"] for m in history(apps[1], user)][::2] == ["t0", "t1"]


def test_a_stream_gets_its_tokens_from_the_other_pair(apps: list[httpx.Client]) -> None:
    remote = []
    for i in range(USERS):
        user = f"streamer{i}"
        apps[1].post(f"/chat/{user}", json={"content": "hello"})  # place its actors
        if host_of(apps, user, "ResponseAgent") == 1:
            remote.append(user)
    assert remote, "placement put no ResponseAgent on pair 1"
    for user in remote[:3]:
        text = "[[token_delay:0.01]] one two three four five six"
        resp = apps[0].post(f"/chat/{user}/stream", json={"content": text})
        assert resp.status_code == 200, resp.text
        events = events_of(resp)
        tokens = [d["text"] for kind, d in events if kind == "token"]
        done = events[-1]
        assert done[0] == "done", events
        assert len(tokens) > 1, "the reply came as one chunk: no token crossed the pairs"
        assert "".join(tokens) == done[1]["content"] == history(apps[0], user)[-1]["content"]


def test_a_client_leaving_a_remote_stream_leaves_a_consistent_history(
    apps: list[httpx.Client],
) -> None:
    user = next(
        u
        for u in (f"leaver{i}" for i in range(USERS * 2))
        if apps[1].post(f"/chat/{u}", json={"content": "hi"}).status_code == 200
        and host_of(apps, u, "ResponseAgent") == 1
    )
    text = "[[token_delay:0.2]] " + " ".join(f"w{i}" for i in range(20))
    with apps[0].stream("POST", f"/chat/{user}/stream", json={"content": text}) as resp:
        assert [name for name, _ in events_of(resp, stop_after=1)] == ["token"]
        # the client leaves after the first token
    entries = eventually(lambda: history(apps[0], user), lambda h: len(h) == 4, timeout=30)
    assert [m["role"] for m in entries] == ["user", "assistant", "user", "assistant"]
    assert entries[2]["content"] == text


def test_a_daprd_that_crashed_and_came_back_never_writes_from_a_stale_cache(
    pairs: RunningStack, apps: list[httpx.Client]
) -> None:
    users = [f"mover{i}" for i in range(USERS)]
    sent: dict[str, list[str]] = {u: [] for u in users}

    def turn(app: httpx.Client, user: str) -> None:
        content = f"{user} turn {len(sent[user]) + 1}"
        for _ in range(60):  # 503 while a pair's daprd is away: retry, same Idempotency-Key
            resp = app.post(
                f"/chat/{user}", json={"content": content}, headers={"Idempotency-Key": content}
            )
            if resp.status_code == 200:
                sent[user].append(content)
                return
            assert resp.status_code in (503, 504), resp.text
            time.sleep(0.5)
        raise AssertionError(f"{user}: no turn in 30 s")

    def each_user(app: httpx.Client, turns: int) -> None:
        with ThreadPoolExecutor(len(users)) as pool:
            list(pool.map(lambda u: [turn(app, u) for _ in range(turns)], users))

    each_user(apps[0], 1)  # actors warm, with their caches, in both apps
    on_a = [u for u in users if host_of(apps, u, "ChatAgent") == 0]
    assert on_a, "placement put no ChatAgent on pair 0"
    # Pair 0's daprd dies and stays away (its restart backoff) while its app, with its cached
    # actors, stays up; placement hands pair 0's actors to pair 1, which saves their turns.
    crashed = threading.Thread(target=pairs.stack.crash, args=("daprd",))
    crashed.start()
    each_user(apps[1], 3)
    moved = [u for u in on_a if host_of(apps[1:], u, "ChatAgent") == 0]
    assert moved, "no actor of pair 0 ran on pair 1 during the outage"
    crashed.join()  # pair 0's daprd is back: placement moves those actors back to pair 0
    eventually(lambda: host_of(apps, moved[0], "ChatAgent"), lambda h: h != 1, timeout=30)
    each_user(apps[0], 2)
    each_user(apps[1], 1)
    for user in users:
        entries = history(apps[1], user)
        assert [m["content"] for m in entries[::2]] == sent[user], user
        count = apps[1].get(f"/response/{user}/count").json()["count"]
        assert count == len(sent[user]), user
