"""W6, resume: 32 users on long turns with one tool step and a 300 ms model; pair 1 of a
2-pair stack is killed -9 under load; every turn must still end done, its tool run once, soon.

A stack of its own: the OpenAI-protocol stub (tools/openai_stub) answering each model request
after ``w6_model_delay_s`` (its default delay), an agents file whose default agent is granted
the test MCP server's ``tally`` (tests/mcp_server.py, served over streamable HTTP by this
process, so its run counts outlive the app that called it). Each user, in a loop, through pair
0's app: a long turn (``Prefer: respond-async``, an ``Idempotency-Key``: a POST that failed is
sent again until it is accepted) whose message makes the model call ``web__tally`` with a key
unique to the turn, then ``GET …/turns/{seq}?wait=`` until it is done or failed, then the
next. Some users also watch each turn's stream through pair 1's app, and when that connection
breaks (pair 1 killed) attach again through pair 0 with ``Last-Event-ID``; their messages add
``[[token_delay:…]]`` so the reply streams for a while and a cut can land inside it. After
``w6_kill_at_s`` pair 1's app and daprd get SIGKILL and stay down; the long turns they were
running are started again on pair 0 by ChatAgent's reminder (``limits.turn_check_s``) once
placement has moved the actors, from the last step the run saved (docs/llm.md "No tool runs
twice").

- ``w6_completed_turns`` / ``w6_failed_turns``: accepted turns that ended done / every other
  turn (failed, never accepted, or not over by the end of the drain). Goal 0 failed.
- ``w6_tool_runs_per_turn``: runs of ``tally`` with this run's keys / completed turns (goal
  exactly 1); ``w6_turns_tool_not_once``: completed turns whose key ran other than once.
- ``w6_resume_s``: from the kill until every turn sent before it and not over at it is done,
  as its client saw it (its ``?wait=`` returned). Goal <= 10 s.
- ``w6_stream_missing_tokens`` / ``w6_stream_repeated_tokens``: per watched turn, the words
  of the committed reply its watcher does not hold / holds beyond it (tokens appended,
  ``reset`` applied, across the reconnect). Goal 0 for both.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import re
import secrets
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from httpx_sse import aconnect_sse
from tests.mcp_server import CALLS, RUNS, SERVER
from tools.background_server import BackgroundServer

from bench.client import Connection, Connections, HttpError
from bench.display import Display
from bench.load import latency_ms
from bench.sizes import Sizes
from bench.stack import STUB_SERVER, openai_stub_process
from devstack.private import PrivateStack, private_stack

# The figures W6 puts at the top of the result document.
FIGURES = (
    "w6_completed_turns",
    "w6_failed_turns",
    "w6_tool_runs_per_turn",
    "w6_turns_tool_not_once",
    "w6_resume_s",
    "w6_stream_missing_tokens",
    "w6_stream_repeated_tokens",
)
TOOL = "web__tally"  # an MCP tool's name on the wire: <server>__<tool>
FAIL_PAUSE_S = 0.1  # after a refused POST or a failed poll: no busy loop
WAIT_S = 10  # one long-poll (?wait=), under limits.turn_wait_max_s
DRAIN_S = 30.0  # after the load: how long the last turns may take to end
# The killed pair stays down for the rest of the run (the supervisor's restart backoff).
DOWN_S = 600.0
CALLS_PAGE = 200
WORD = re.compile(r"\S+")


def skipped(reason: str) -> dict[str, Any]:
    return {"skipped": f"W6 skipped: {reason}", **dict.fromkeys(FIGURES)}


def message(key: str, token_delay_s: float | None) -> str:
    """The turn's message: the model calls tally with ``key``, then answers with its result
    (streamed slowly with ``token_delay_s``)."""
    slow = f"[[token_delay:{token_delay_s:g}]] " if token_delay_s else ""
    return f"{slow}[[tool:{TOOL}:{json.dumps({'key': key})}]] {key}"


def agents_yaml(mcp_origin: str) -> str:
    book = {
        "default": "assistant",
        "mcp_servers": {"web": {"url": f"{mcp_origin}/mcp", "timeout_s": 30}},
        "agents": {"assistant": {"tools": ["web.tally"]}},
    }
    return yaml.safe_dump(book)


def write_agents(run_dir: Path, mcp_origin: str) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    path = run_dir / "agents.yaml"
    path.write_text(agents_yaml(mcp_origin))
    return path


@dataclass
class Watched:
    """What a turn's watcher got: ``(event, data)`` pairs, over every connection."""

    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    reconnects: int = 0
    ended: str | None = None  # the last event's name: done, error, pending; None: never

    def had_tokens(self) -> bool:
        return any(name == "token" for name, _ in self.events)

    def text(self) -> str:
        """What a client holds: tokens appended, a reset drops them."""
        text = ""
        for name, data in self.events:
            if name == "reset":
                text = ""
            elif name == "token":
                text += str(data.get("text", ""))
        return text


@dataclass
class Turn:
    user: str
    key: str
    sent: float  # the first POST
    seq: int | None = None
    accepted: float | None = None  # its 202
    done: float | None = None  # when its client saw it end
    status: str = "unfinished"  # done, failed:<code>, refused:<status>, unfinished
    reply: str | None = None
    refusals: int = 0  # POSTs answered 5xx or not at all before the 202
    watched: Watched | None = None


def gap(held: str, reply: str) -> tuple[int, int]:
    """Words of ``reply`` missing from ``held``, and words ``held`` has beyond it (a repeat)."""
    have, want = WORD.findall(held), WORD.findall(reply)
    missing = repeated = 0
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, have, want).get_opcodes():
        if tag in ("insert", "replace"):
            missing += j2 - j1
        if tag in ("delete", "replace"):
            repeated += i2 - i1
    return missing, repeated


async def run_w6(run_dir: Path, sizes: Sizes, display: Display, tag: str) -> dict[str, Any]:
    if not STUB_SERVER.exists():
        return skipped("no OpenAI responder (tools/openai_stub/server.py is missing)")
    mcp = BackgroundServer(SERVER.streamable_http_app(), "w6-mcp").start()
    try:
        agents = write_agents(run_dir, mcp.origin)
        stub_log = run_dir / "logs" / "openai_stub.log"
        with openai_stub_process(sizes.w6_model_delay_s, stub_log) as (base_url, _pid):
            env = {
                "OPENAI_BASE_URL": base_url,
                "OPENAI_API_KEY": "x",
                "AGENT_ACTORS_AGENTS__FILE": str(agents),
            }
            options = {"restart_backoff_s": DOWN_S, "restart_backoff_max_s": DOWN_S}
            with private_stack(
                run_dir,
                app_api_token=secrets.token_hex(16),
                app_env=env,
                replicas=2,
                stack_options=options,
            ) as stack:
                return await resume(stack, sizes, display, tag)
    finally:
        mcp.stop()


@dataclass
class Clients:
    """Pair 0's connections (a user's posts and polls), and an SSE client per pair."""

    conns: Connections
    streams: list[httpx.AsyncClient]
    pair1_dead: asyncio.Event


async def resume(stack: PrivateStack, sizes: Sizes, display: Display, tag: str) -> dict[str, Any]:
    users = [f"{tag}-w6-{i}" for i in range(sizes.w6_users)]
    watchers = set(users[: sizes.w6_watchers])
    turns: list[Turn] = []
    end = time.monotonic() + sizes.w6_kill_at_s + sizes.w6_after_kill_s
    total = sizes.w6_kill_at_s + sizes.w6_after_kill_s
    streams = stream_clients(stack, len(watchers))
    with display.task(f"W6 resume, {len(users)} users", total=total) as task:
        async with Connections("127.0.0.1", stack.pairs[0].app, timeout_s=60.0) as conns:
            clients = Clients(conns, streams, asyncio.Event())
            try:
                load = asyncio.gather(
                    *(
                        user_loop(clients, i, u, u in watchers, sizes, end, turns)
                        for i, u in enumerate(users)
                    )
                )
                await asyncio.sleep(sizes.w6_kill_at_s)
                killed_at = time.monotonic()
                for name in ("app-1", "daprd-1"):  # the whole second pair
                    stack.stack.process(name).kill()
                clients.pair1_dead.set()
                task.update(sizes.w6_kill_at_s, "pair 1 killed")
                await load
            finally:
                for client in streams:
                    await client.aclose()
            task.update(total, f"{len(turns)} turns")
            records = await read_records(conns[0], turns, killed_at)
    runs = {k: n for k, n in RUNS.items() if k.startswith(f"{tag}-w6-")}
    calls = sum(n for k, n in CALLS.items() if k.startswith(f"{tag}-w6-"))
    done = sum(1 for t in turns if t.status == "done")
    # Calls the tool got, repeats after a lost run included; runs are the times it acted (it
    # answers a repeat of a call's idempotency key without acting again).
    return {
        **summarize(users, turns, runs, killed_at, records, sizes),
        "tool_calls": calls,
        "w6_tool_calls_per_turn": round(calls / done, 4) if done else None,
    }


def stream_clients(stack: PrivateStack, watchers: int) -> list[httpx.AsyncClient]:
    """An SSE client per pair (httpx-sse; a few streams, so httpx's CPU per request is no
    matter here, unlike the load's posts: bench/client.py)."""
    timeout = httpx.Timeout(60.0, connect=5.0)
    limits = httpx.Limits(max_connections=4 * watchers + 4)
    return [
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{p.app}", timeout=timeout, limits=limits)
        for p in stack.pairs
    ]


async def user_loop(
    clients: Clients,
    worker: int,
    user: str,
    watcher: bool,
    sizes: Sizes,
    end: float,
    turns: list[Turn],
) -> None:
    conn = clients.conns[worker]
    until = end + DRAIN_S
    i = 0
    while time.monotonic() < end:
        turn = Turn(user, f"{user}-{i}", time.monotonic())
        turns.append(turn)
        delay = sizes.w6_token_delay_s if watcher else None
        await start(conn, turn, message(turn.key, delay), until)
        if turn.seq is not None and turn.status == "unfinished":
            ending = [await_end(conn, turn, until)]
            if watcher:
                ending.append(watch(clients, turn, until))
            await asyncio.gather(*ending)
        if turn.status != "done":
            await asyncio.sleep(FAIL_PAUSE_S)
        i += 1


async def start(conn: Connection, turn: Turn, content: str, until: float) -> None:
    """POST the long turn until it is accepted (the same Idempotency-Key each time: a second
    delivery is the same turn)."""
    headers = {"Prefer": "respond-async", "Idempotency-Key": turn.key}
    while True:
        try:
            resp = await conn.post(f"/chat/{turn.user}", {"content": content}, headers)
        except HttpError:
            resp = None
        if resp is not None and resp.status_code == 202:
            turn.seq, turn.accepted = int(resp.json()["seq"]), time.monotonic()
            return
        if resp is not None and resp.status_code == 200:  # a repeat of a turn already done
            body = resp.json()
            turn.seq, turn.accepted = int(body["seq"]), time.monotonic()
            turn.done, turn.status, turn.reply = turn.accepted, "done", body["content"]
            return
        if resp is not None and resp.status_code < 500:
            turn.status = f"refused:{resp.status_code}"
            return
        turn.refusals += 1
        if time.monotonic() > until:
            turn.status = f"refused:{resp.status_code if resp is not None else 'transport'}"
            return
        await asyncio.sleep(FAIL_PAUSE_S)


async def await_end(conn: Connection, turn: Turn, until: float) -> None:
    """Long-poll the turn until it is done or failed (or ``until`` passes: unfinished)."""
    path = f"/chat/{turn.user}/turns/{turn.seq}?wait={WAIT_S}"
    while time.monotonic() < until:
        try:
            resp = await conn.get(path)
        except HttpError:
            await asyncio.sleep(FAIL_PAUSE_S)
            continue
        if resp.status_code != 200:
            await asyncio.sleep(FAIL_PAUSE_S)  # the actor moving: ask again
            continue
        view = resp.json()
        if view["status"] == "done":
            turn.done, turn.status = time.monotonic(), "done"
            turn.reply = view["response"]["content"]
            return
        if view["status"] == "failed":
            turn.done, turn.status = time.monotonic(), f"failed:{view['error']['code']}"
            return


async def watch(clients: Clients, turn: Turn, until: float) -> None:
    """Read the turn's stream through pair 1 (pair 0 once pair 1 is dead); on a broken
    connection, attach again through pair 0 with the last event's id."""
    seen = turn.watched = Watched()
    last: str | None = None
    via = 0 if clients.pair1_dead.is_set() else 1
    path = f"/chat/{turn.user}/turns/{turn.seq}/stream"
    while time.monotonic() < until:
        headers = {} if last is None else {"Last-Event-ID": last}
        try:
            async with aconnect_sse(clients.streams[via], "GET", path, headers=headers) as source:
                if source.response.status_code == 200:
                    async for sse in source.aiter_sse():
                        if not sse.data:  # httpx-sse's empty event at a ping (tests/sse.py)
                            continue
                        data = sse.json()
                        seen.events.append((sse.event, data))
                        last = sse.id or last
                        if sse.event in ("done", "pending") or (
                            sse.event == "error" and data.get("code") != "stream_timeout"
                        ):
                            seen.ended = sse.event
                            return
        except httpx.HTTPError:
            pass
        # Cut (pair 1 died), refused, or the stream's own bound: on through pair 0.
        seen.reconnects += 1
        via = 0
        await asyncio.sleep(FAIL_PAUSE_S)


@dataclass
class Records:
    """What the call records of the turns open at the kill say: the keys of those with a
    model call made by a run started again (``resumed``), and of those whose tool call was
    running when the run was lost and so ran again (``resumed_after_crash``: at most once
    more, docs/llm.md "No tool runs twice")."""

    resumed: set[str] = field(default_factory=set)
    rerun: set[str] = field(default_factory=set)


async def read_records(conn: Connection, turns: list[Turn], killed_at: float) -> Records:
    """The call records of the turns open at the kill, read through pair 0 after the load."""
    by_user: dict[str, dict[int, str]] = {}
    for t in turns:
        if t.seq is not None and open_at(t, killed_at):
            by_user.setdefault(t.user, {})[t.seq] = t.key
    seen = Records()
    for user, keys in by_user.items():
        try:
            resp = await conn.get(f"/chat/{user}/calls?limit={CALLS_PAGE}")
        except HttpError:
            continue
        if resp.status_code != 200:
            continue
        for record in resp.json()["calls"]:
            key = keys.get(record["seq"])
            if key is None:
                continue
            if record.get("resumed"):
                seen.resumed.add(key)
            if any(c.get("resumed_after_crash") for c in record.get("tool_calls") or []):
                seen.rerun.add(key)
    return seen


def open_at(turn: Turn, moment: float) -> bool:
    """Sent before ``moment`` and not over at it."""
    return turn.sent < moment and (turn.done is None or turn.done > moment)


def stream_figures(turns: Iterable[Turn], resumed: set[str]) -> dict[str, Any]:
    watched = [t for t in turns if t.watched is not None and t.status == "done"]
    missing = repeated = 0
    wrong: list[dict[str, Any]] = []
    for t in watched:
        assert t.watched is not None
        lost, extra = gap(t.watched.text(), t.reply or "")
        missing, repeated = missing + lost, repeated + extra
        if lost or extra or t.watched.ended != "done":
            wrong.append({"key": t.key, "held": t.watched.text(), "reply": t.reply})
    cut = [t for t in watched if t.watched is not None and t.watched.reconnects]
    return {
        "watched_turns": len(watched),
        "reconnected_turns": len(cut),
        "reconnected_after_tokens": sum(1 for t in cut if t.watched and t.watched.had_tokens()),
        # cut with the run that wrote their tokens: the rest came from the run started again
        "reconnected_resumed": sum(1 for t in cut if t.key in resumed),
        "streams_not_done": sum(1 for t in watched if t.watched and t.watched.ended != "done"),
        "streams_wrong": wrong[:10],
        "w6_stream_missing_tokens": missing,
        "w6_stream_repeated_tokens": repeated,
    }


def summarize(
    users: list[str],
    turns: list[Turn],
    runs: dict[str, int],
    killed_at: float,
    records: Records,
    sizes: Sizes,
) -> dict[str, Any]:
    done = [t for t in turns if t.status == "done"]
    not_done = [t for t in turns if t.status != "done"]
    interrupted = [t for t in turns if open_at(t, killed_at)]
    all_back = all(t.status == "done" for t in interrupted)
    resume_s = max((t.done or killed_at) - killed_at for t in interrupted) if interrupted else 0.0
    first = min((t.sent for t in turns), default=killed_at)
    last = max((t.done or t.sent for t in turns), default=killed_at)
    before = [t.done - t.sent for t in done if t.done is not None and t.done < killed_at]
    after = [t for t in done if t.sent > killed_at + resume_s]
    not_once = [t.key for t in done if runs.get(t.key, 0) != 1]
    return {
        "users": len(users),
        "watchers": sizes.w6_watchers,
        "model_delay_s": sizes.w6_model_delay_s,
        "token_delay_s": sizes.w6_token_delay_s,
        "kill_at_s": round(killed_at - first, 2),
        "turns": len(turns),
        "w6_completed_turns": len(done),
        "w6_failed_turns": len(not_done),
        "failed_by_status": dict(Counter(t.status for t in not_done)),
        "tool_runs": sum(runs.values()),
        "w6_tool_runs_per_turn": round(sum(runs.values()) / len(done), 4) if done else None,
        "w6_turns_tool_not_once": len(not_once),
        "tool_not_once": not_once[:20],
        # of those, the calls running when pair 1 died: run again once, by design
        "tool_not_once_running_at_kill": sum(1 for k in not_once if k in records.rerun),
        "open_at_kill": len(interrupted),
        "open_at_kill_resumed": len(records.resumed),
        "w6_resume_s": round(resume_s, 2) if all_back else None,
        "open_at_kill_done_by_s": sorted(
            round(t.done - killed_at, 2) for t in interrupted if t.done is not None
        ),
        "refused_posts": sum(t.refusals for t in turns),
        **stream_figures(turns, records.resumed),
        "turns_per_s_before_kill": round(len(before) / (killed_at - first), 2)
        if killed_at > first
        else None,
        "turns_per_s_after_resume": round(len(after) / (last - killed_at - resume_s), 2)
        if after and last > killed_at + resume_s
        else None,
        **{f"before_kill_{k}": v for k, v in latency_ms(before).items()},
        **{f"all_{k}": v for k, v in latency_ms([t.done - t.sent for t in done if t.done]).items()},
        "slowest_turn_s": round(max((t.done - t.sent for t in done if t.done), default=0.0), 2),
    }
