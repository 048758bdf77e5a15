"""Long turns on the real stack, through the OpenAI-protocol stub (``tools/openai_stub``).

The app's actor call timeout is cut to ``CALL_TIMEOUT_S`` here, and the stub answers after
``SLOW_S`` (its ``[[delay:s]]`` marker): a synchronous turn that long fails with a 503, the
same turn asked with ``Prefer: respond-async`` completes, because its model work runs outside
any actor call. Its reminder fires every second (``turn_check_s``), so a turn whose app was
killed mid-run is started again within a few seconds of the app being back, and completes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from tools.openai_stub.server import StubServer

from tests.integration.chat_client import chat, eventually, history, memory
from tests.integration.stack_fixture import RunningStack, start_stack

CALL_TIMEOUT_S = 4
SLOW_S = 7
ASYNC = {"Prefer": "respond-async"}


@pytest.fixture(scope="module")
def long(stub: StubServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    env = {
        "OPENAI_BASE_URL": stub.url,
        "OPENAI_API_KEY": "test-key",
        "OPENAI_MODEL": "stub-model",
        "AGENT_ACTORS_DAPR__ACTOR_CALL_TIMEOUT_S": str(CALL_TIMEOUT_S),
        # A request may take longer than an actor call here; the sync turn's own budget too,
        # so that the actor call timeout is what stops it.
        "AGENT_ACTORS_LLM__TIMEOUT_S": "40",
        "AGENT_ACTORS_LLM__TURN_TIMEOUT_S": "40",
        "AGENT_ACTORS_LLM__MAX_RETRIES": "0",
    }
    run_dir = tmp_path_factory.mktemp("long-turns")
    yield from start_stack(
        run_dir, extra_env=env, turn_check_s=1, long_turn_timeout_s=60, turn_wait_max_s=40
    )


def post(app: httpx.Client, user: str, content: str, **headers: str) -> httpx.Response:
    return app.post(f"/chat/{user}", json={"role": "user", "content": content}, headers=headers)


def turn_state(app: httpx.Client, location: str, wait: float = 0) -> dict[str, Any]:
    resp = app.get(location, params={"wait": wait})
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def test_a_long_turn_is_202_then_pending_then_done_past_the_actor_call_timeout(
    long: RunningStack, stub: StubServer, user: str
) -> None:
    app = long.app
    # The same length of turn, synchronously: the actor call times out first.
    sync = post(app, f"{user}-sync", f"[[delay:{SLOW_S}]] sync {user}")
    assert (sync.status_code, sync.json()["code"]) == (503, "actor_unavailable"), sync.text

    started = time.monotonic()
    resp = post(app, user, f"[[delay:{SLOW_S}]] slow {user}", **ASYNC)
    assert resp.status_code == 202, resp.text
    # The answer came before the model's: it did not wait for it.
    assert all(r.ended is None for r in stub.requests(f"slow {user}"))
    location = resp.headers["Location"]
    assert location == f"/chat/{user}/turns/1"
    assert resp.headers["Preference-Applied"] == "respond-async"
    assert resp.headers["Turn-Seq"] == "1"
    assert resp.json()["status"] == "pending"
    assert turn_state(app, location)["status"] == "pending"
    # The model works outside any actor call: the conversation's reads go on meanwhile, and
    # the user's next turn is refused (its order is kept), sync or not.
    assert history(app, user)["total"] == 0
    assert app.get(f"/chat/{user}").status_code == 200
    for headers in ({}, ASYNC):
        second = post(app, user, "meanwhile", **headers)
        assert (second.status_code, second.json()["code"]) == (409, "turn_in_progress")
    # The long-poll returns as soon as the turn is done, long before its wait is up.
    done = turn_state(app, location, wait=40)
    waited = time.monotonic() - started
    assert done["status"] == "done", done
    assert done["response"] == {"role": "assistant", "content": f"stub reply to: slow {user}"}
    assert SLOW_S <= waited < 40
    assert SLOW_S > CALL_TIMEOUT_S
    assert [e["content"] for e in history(app, user)["history"]] == [
        f"[[delay:{SLOW_S}]] slow {user}",
        f"stub reply to: slow {user}",
    ]
    # The turn is a turn like any other: its event reached memory, its call was recorded,
    # the session index has it, and the next turn is seq 2.
    eventually(lambda: memory(app, user), lambda m: len(m) >= 2)
    calls = app.get(f"/chat/{user}/calls").json()
    assert [(c["seq"], c["status"]) for c in calls["calls"]] == [(1, "ok")]
    assert app.get(f"/chat/{user}").json()["turns"] == 1
    nxt = post(app, user, f"next {user}")
    assert (nxt.status_code, nxt.headers["Turn-Seq"]) == (200, "2")
    assert len(stub.requests(f"slow {user}")) == 1


def test_a_repeated_key_is_the_same_long_turn_and_then_its_committed_reply(
    long: RunningStack, stub: StubServer, user: str
) -> None:
    app = long.app
    content = f"[[delay:2]] keyed {user}"
    first = post(app, user, content, **ASYNC, **{"Idempotency-Key": "k-1"})
    again = post(app, user, content, **ASYNC, **{"Idempotency-Key": "k-1"})
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert turn_state(app, first.headers["Location"], wait=30)["status"] == "done"
    repeat = post(app, user, content, **{"Idempotency-Key": "k-1"})
    assert repeat.status_code == 200
    assert repeat.headers["Idempotent-Replayed"] == "true"
    assert repeat.json()["response"]["content"] == f"stub reply to: keyed {user}"
    assert len(stub.requests(f"keyed {user}")) == 1
    assert history(app, user)["total"] == 2


def test_the_app_killed_mid_turn_starts_the_turn_again_and_it_completes(
    long: RunningStack, stub: StubServer, user: str
) -> None:
    app = long.app
    resp = post(app, user, f"[[delay:3]] survivor {user}", **ASYNC)
    assert resp.status_code == 202, resp.text
    location = resp.headers["Location"]
    eventually(lambda: stub.requests(f"survivor {user}"), bool)
    long.stack.restart("app", crash=True)  # kill -9 mid-run; the stack brings it back
    done = eventually(
        lambda: turn_state(app, location), lambda s: s["status"] != "pending", timeout=60
    )
    # The reminder found the run gone and started another on the app that hosts the actors now.
    assert done["status"] == "done", done
    # Its records say the run that wrote the reply was started again after a lost one.
    calls = app.get(f"/chat/{user}/calls").json()["calls"]
    assert [c["resumed"] for c in calls] == [1]
    assert done["response"]["content"] == f"stub reply to: survivor {user}"
    assert len(stub.requests(f"survivor {user}")) == 2  # the lost run's request, and the new one
    assert history(app, user)["total"] == 2
    after = chat(app, user, f"after {user}")
    assert after["response"]["content"] == f"stub reply to: after {user}"


def test_a_deleted_conversation_stays_deleted_when_its_long_turn_would_end(
    long: RunningStack, stub: StubServer, user: str
) -> None:
    app = long.app
    resp = post(app, user, f"[[delay:3]] gone {user}", **ASYNC)
    assert resp.status_code == 202
    eventually(lambda: stub.requests(f"gone {user}"), bool)
    assert app.delete(f"/chat/{user}").status_code == 204
    # Past the moment the model would have answered.
    eventually(lambda: stub.requests(f"gone {user}")[0].ended, lambda ended: ended is not None)
    time.sleep(2)
    assert app.get(resp.headers["Location"]).json()["code"] == "turn_not_found"
    assert history(app, user)["total"] == 0
    assert app.get(f"/chat/{user}/calls").json()["total"] == 0
    assert [k for k in long.redis.scan_iter(f"*{user}*")] == []
    nxt = post(app, user, f"fresh {user}")
    assert nxt.headers["Turn-Seq"] == "1"
