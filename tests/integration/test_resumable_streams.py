"""Resumable streams on a real 2-pair stack: every event has the id ``<seq>-<pos>``, a client
that lost its connection reconnects with ``Last-Event-ID`` through the other pair and gets the
rest of the turn (no gap, no repeat), a finished turn or a long one is watched through
``GET /chat/{id}/turns/{seq}/stream``, and a pair killed mid-stream never leaves a reader
hanging. The turn's events live in Redis (streams/turn_log.py), written by the pair running
the reply."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest
from httpx_sse import EventSource
from tools.openai_stub.server import StubServer

from tests.integration.chat_client import eventually
from tests.integration.stack_fixture import RunningStack, start_stack

# name, data, id
Event = tuple[str, dict[str, object], str]
SLOW = "[[token_delay:0.1]]"
WORDS = " ".join(f"w{i}" for i in range(40))
# The longest a reader may take after the kill: placement moves the actors, ChatAgent answers.
READ_BOUND_S = 60.0


@pytest.fixture(scope="module")
def two_pairs(stub: StubServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    env = {
        "OPENAI_BASE_URL": stub.url,
        "OPENAI_API_KEY": "test-key",
        "AGENT_ACTORS_LLM__MAX_RETRIES": "0",
    }
    # The killed pair stays down for the rest of the module (its restart backoff).
    yield from start_stack(
        tmp_path_factory.mktemp("resumable"),
        extra_env=env,
        replicas=2,
        stack_options={"restart_backoff_s": 120.0},
    )


@pytest.fixture(scope="module")
def apps(two_pairs: RunningStack) -> Iterator[list[httpx.Client]]:
    timeout = httpx.Timeout(READ_BOUND_S, connect=5)
    clients = [
        httpx.Client(base_url=f"http://127.0.0.1:{p.app}", timeout=timeout) for p in two_pairs.pairs
    ]
    yield clients
    for client in clients:
        client.close()


def read(resp: httpx.Response, stop_after: int | None = None) -> list[Event]:
    assert resp.status_code == 200, resp.read()
    got: list[Event] = []
    for sse in EventSource(resp).iter_sse():
        if not sse.data:  # httpx-sse's empty event at a ping (florimondmanca/httpx-sse#35)
            continue
        got.append((sse.event, sse.json(), sse.id))
        if stop_after is not None and len(got) >= stop_after:
            break
    return got


def attach(app: httpx.Client, user: str, seq: int, last: str | None = None) -> list[Event]:
    headers = {} if last is None else {"Last-Event-ID": last}
    with app.stream("GET", f"/chat/{user}/turns/{seq}/stream", headers=headers) as resp:
        return read(resp)


def text_of(events: list[Event]) -> str:
    """What a client holds: tokens appended, a reset drops them."""
    text = ""
    for name, data, _ in events:
        if name == "reset":
            text = ""
        elif name == "token":
            text += str(data["text"])
    return text


def positions(events: list[Event]) -> list[int]:
    return [int(i.split("-")[1]) for _, _, i in events]


def committed(app: httpx.Client, user: str, seq: int) -> dict[str, object]:
    return app.get(f"/chat/{user}/turns/{seq}").json()


def test_a_cut_stream_resumes_through_the_other_pair_without_gap_or_repeat(
    apps: list[httpx.Client], user: str
) -> None:
    body = {"content": f"{SLOW} {WORDS}"}
    with apps[0].stream("POST", f"/chat/{user}/stream", json=body) as resp:
        before = read(resp, stop_after=4)
    assert [name for name, _, _ in before] == ["token"] * 4
    assert [i for _, _, i in before] == ["1-1", "1-2", "1-3", "1-4"]
    after = attach(apps[1], user, 1, last=before[-1][2])
    assert after[-1][0] == "done"
    # No gap, no repeat: the positions go on from the last one the client had.
    assert positions(after) == list(range(5, 5 + len(after)))
    reply = committed(apps[1], user, 1)["response"]["content"]  # type: ignore[index]
    assert text_of(before + after) == reply == after[-1][1]["content"]
    # The same through POST /chat/{id}/stream with Last-Event-ID (what a retrying client
    # sends): the rest of turn 1, and no new turn.
    with apps[1].stream(
        "POST", f"/chat/{user}/stream", json=body, headers={"Last-Event-ID": "1-2"}
    ) as resp:
        again = read(resp)
    assert text_of(before[:2] + again) == reply
    assert apps[0].get(f"/chat/{user}/history").json()["total"] == 2


def test_a_finished_turn_replays_and_a_plain_turn_logs_nothing(
    two_pairs: RunningStack, apps: list[httpx.Client], user: str
) -> None:
    with apps[0].stream("POST", f"/chat/{user}/stream", json={"content": WORDS}) as resp:
        live = read(resp)
    replay = attach(apps[1], user, 1)
    assert replay == live  # the same events, the same ids, on the other pair
    assert text_of(replay) == live[-1][1]["content"]
    # A plain POST /chat turn never touches the log: attached, it is its reply as one token.
    assert apps[0].post(f"/chat/{user}", json={"content": "plain"}).status_code == 200
    assert two_pairs.redis.keys(f"agent-actors:turn-events:{user}:2") == []
    plain = attach(apps[1], user, 2)
    assert [name for name, _, _ in plain] == ["token", "done"]
    assert plain[0][1]["text"] == committed(apps[0], user, 2)["response"]["content"]  # type: ignore[index]
    # Erased with the conversation, not left to its TTL.
    assert apps[1].delete(f"/chat/{user}").status_code == 204
    assert two_pairs.redis.keys(f"agent-actors:turn-events:{user}:*") == []


def test_a_long_turn_is_watched_instead_of_polled(apps: list[httpx.Client], user: str) -> None:
    resp = apps[0].post(
        f"/chat/{user}", json={"content": f"{SLOW} {WORDS}"}, headers={"Prefer": "respond-async"}
    )
    assert resp.status_code == 202, resp.text
    seq = int(resp.headers["Turn-Seq"])
    watched = attach(apps[1], user, seq)
    assert watched[-1][0] == "done"
    assert sum(1 for name, _, _ in watched if name == "token") > 10  # streamed, not one chunk
    assert text_of(watched) == committed(apps[0], user, seq)["response"]["content"]  # type: ignore[index]


def host_of(apps: list[httpx.Client], user: str) -> int | None:
    for index, app in enumerate(apps):
        if app.get(f"/inspect/{user}/cache").json()["ChatAgent"] is not None:
            return index
    return None


def test_the_pair_running_a_turn_killed_mid_stream_never_leaves_a_reader_hanging(
    two_pairs: RunningStack, apps: list[httpx.Client]
) -> None:
    # A user whose actors live on pair 1, which is killed while its turn streams.
    for i in range(40):
        user = f"rk{i}-{time.monotonic_ns() % 10**6}"
        assert apps[1].post(f"/chat/{user}", json={"content": "hello"}).status_code == 200
        if host_of(apps, user) == 1:
            break
    else:
        pytest.fail("placement put no user's actors on pair 1")
    with apps[1].stream(
        "POST", f"/chat/{user}/stream", json={"content": f"{SLOW} {WORDS}"}
    ) as resp:
        before = read(resp, stop_after=3)
        for name in ("app-1", "daprd-1"):
            two_pairs.stack.process(name).kill()
    assert [i for _, _, i in before] == ["2-1", "2-2", "2-3"]
    started = time.monotonic()
    after = attach(apps[0], user, 2, last=before[-1][2])
    took = time.monotonic() - started
    assert took < READ_BOUND_S
    name, data, _ = after[-1]
    history = eventually(
        lambda: apps[0].get(f"/chat/{user}/history"), lambda r: r.status_code == 200
    ).json()
    if name == "done":
        assert text_of(before + after) == data["content"] == history["history"][-1]["content"]
    else:
        assert name == "error", after
        assert data["code"] == "turn_interrupted", data
        assert history["total"] == 2  # the first turn only: the killed one was not committed
    print(f"\n[resumable] after the kill: {name} in {took:.1f}s, {len(after)} events")
