"""W1-model, one turn's cost on the path users run: W1 at 64 users through the OpenAI responder
against the local OpenAI-protocol stub (tools/openai_stub, answering at once), next to the
same load on the offline responder, both measured in the same run.

Two private stacks of their own, alike but for ``OPENAI_BASE_URL`` (the model stack's app
talks to the stub; the other answers offline), and one stub process. The levels alternate,
offline then model, ``w1_model_rounds`` times, so both sides see the same machine. The stub's
CPU is metered apart (its own pid): on a 2-core machine it shares the cores with the app, so
it lowers the model side's turns/s, but not the app's CPU per turn, the figure this workload
is about: ``w1_model_added_app_cpu_ms`` = app CPU ms per turn with the model - without.

A turn's cost in a going conversation, not its first: each side keeps its 64 users across
its rounds (a first turn activates actors and loads their state: with a few turns per user in
a short window, those loads, more on the model side, its call log's, would weigh as much as
the turns), and CPU is metered over the window alone, not the warm-up: a process's CPU in the
window / the turns that ended in it, over the rounds. After each level the benchmark waits
until Memory shows every user's last turn, so one level's pub/sub backlog is not the next's.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.client import Connections
from bench.cpu import cpu_seconds
from bench.display import Display
from bench.load import closed_loop
from bench.memory_probe import turn_text
from bench.sizes import Sizes
from bench.stack import STUB_SERVER, openai_stub_process, running_stack
from bench.w1 import settle
from bench.w3 import OFFLINE_MARK
from devstack.private import PrivateStack

STUB = "model stub"
MODES = ("offline", "model")
# The figures W1-model puts at the top of the result document.
FIGURES = (
    "w1_model_turns_per_s",
    "w1_offline_turns_per_s",
    "w1_model_app_cpu_ms_per_turn",
    "w1_offline_app_cpu_ms_per_turn",
    "w1_model_added_app_cpu_ms",
    "w1_model_stub_cpu_ms_per_turn",
)


def skipped(reason: str) -> dict[str, Any]:
    return {"skipped": f"W1-model skipped: {reason}", **dict.fromkeys(FIGURES)}


def cpu_ms_per_turn(levels: list[dict[str, Any]]) -> dict[str, float | None]:
    """Each process's CPU ms per turn over ``levels`` (the rounds of one side)."""
    turns = sum(lv["turns"] - lv["errors"] for lv in levels)
    names = {name for lv in levels for name in lv["cpu_s"]}
    return {
        name: round(sum(lv["cpu_s"].get(name, 0.0) for lv in levels) / turns * 1000, 2)
        if turns
        else None
        for name in sorted(names)
    }


def side(levels: list[dict[str, Any]]) -> dict[str, Any]:
    """One side's rounds together: turns/s (mean), errors, p50/p99 per round, CPU per turn."""
    rates = [lv["turns_per_s"] for lv in levels]
    return {
        "turns_per_s": round(sum(rates) / len(rates), 2),
        "turns_per_s_by_round": rates,
        "errors": sum(lv["errors"] + lv["unfinished"] for lv in levels),
        "p50_ms_by_round": [lv["p50_ms"] for lv in levels],
        "p99_ms_by_round": [lv["p99_ms"] for lv in levels],
        "memory_settled": all(lv["memory_settled"] for lv in levels),
        "cpu_ms_per_turn": cpu_ms_per_turn(levels),
        "levels": levels,
    }


async def level(
    stack: PrivateStack,
    pids: dict[str, int],
    sizes: Sizes,
    display: Display,
    users: str,
    first_turn: int,
    label: str,
) -> dict[str, Any]:
    """W1's closed loop on ``stack`` for ``users`` (the side's), the CPU of each of ``pids``
    metered over the window alone (a task started with the loop marks its bounds)."""
    warmup_s, duration_s = sizes.w1_model_warmup_s, sizes.w1_model_duration_s
    pids = {**pids, "bench client": os.getpid()}
    cpu: dict[str, float] = {}
    last_turn: dict[str, int] = {}

    async def window() -> None:
        await asyncio.sleep(warmup_s)
        before = {name: cpu_seconds(pid) for name, pid in pids.items()}
        await asyncio.sleep(duration_s)
        cpu.update({name: cpu_seconds(pid) - before[name] for name, pid in pids.items()})

    async with Connections("127.0.0.1", stack.app_port) as conns:

        async def turn(worker: int, n: int) -> bool:
            user, n = f"{users}-{worker}", first_turn + n
            resp = await conns[worker].post(f"/chat/{user}", {"content": turn_text(user, n)})
            if resp.status_code != 200:
                return False
            last_turn[user] = n
            return True

        metering = asyncio.create_task(window())
        t0 = time.perf_counter()
        result = await closed_loop(
            sizes.w1_model_users,
            turn,
            warmup_s=warmup_s,
            duration_s=duration_s,
            display=display,
            label=label,
        )
        await metering
        settled = await settle(conns, last_turn)
    s = result.summary()
    return {
        "turns_per_s": round(s["per_s"], 2),
        "turns": s["requests"],
        "errors": s["errors"],
        "unfinished": s["unfinished"],
        **{k: s[k] for k in ("p50_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms")},
        "memory_settled": settled,
        "cpu_s": {k: round(v, 3) for k, v in cpu.items()},
        "cpu_cores": {k: round(v / duration_s, 3) for k, v in cpu.items()},
        "wall_s": round(time.perf_counter() - t0, 2),
        "last_turn": max(last_turn.values(), default=first_turn),
    }


async def answers_from_model(stack: PrivateStack, tag: str) -> str | None:
    """None when the model stack's app answers through the stub; else why not."""
    async with Connections("127.0.0.1", stack.app_port, timeout_s=30.0) as conns:
        probe = await conns[0].post(f"/chat/{tag}-w1m-probe", {"content": "hello"})
    if probe.status_code != 200:
        return f"the app answered {probe.status_code}: {probe.text[:200]}"
    if OFFLINE_MARK in probe.json()["response"]["content"]:
        return "the app answered offline, not through the OpenAI responder"
    return None


async def run_w1_model(run_dir: Path, sizes: Sizes, display: Display, tag: str) -> dict[str, Any]:
    if not STUB_SERVER.exists():
        return skipped("no OpenAI stub (tools/openai_stub/server.py is missing)")
    users = sizes.w1_model_users
    stub_log = run_dir / "logs" / "openai_stub.log"
    with ExitStack() as started:
        base_url, stub_pid = started.enter_context(openai_stub_process(0.0, stub_log))
        model_env = {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "x"}
        stacks = {
            "offline": started.enter_context(running_stack(run_dir / "offline")),
            "model": started.enter_context(running_stack(run_dir / "model", app_env=model_env)),
        }
        if (why := await answers_from_model(stacks["model"], tag)) is not None:
            return skipped(why)
        rounds: dict[str, list[dict[str, Any]]] = {mode: [] for mode in MODES}
        first = dict.fromkeys(MODES, 0)
        for _ in range(sizes.w1_model_rounds):
            for mode in MODES:
                pids = {**stacks[mode].pids(), STUB: stub_pid}
                done = await level(
                    stacks[mode],
                    pids,
                    sizes,
                    display,
                    f"{tag}-w1{mode}",
                    first[mode],
                    f"W1-{mode}, {users} users",
                )
                rounds[mode].append(done)
                first[mode] = done["last_turn"] + 1  # the users' next turns go on from here
    for mode in MODES:  # keep the logs, drop the data (as bench/__main__.py does for the rest)
        for data in ("redis", "scheduler-etcd"):
            shutil.rmtree(run_dir / mode / data, ignore_errors=True)
    offline, model = side(rounds["offline"]), side(rounds["model"])
    app_off, app_model = offline["cpu_ms_per_turn"]["app"], model["cpu_ms_per_turn"]["app"]
    added = round(app_model - app_off, 2) if app_off is not None and app_model is not None else None
    return {
        "users": users,
        "rounds": sizes.w1_model_rounds,
        "warmup_s": sizes.w1_model_warmup_s,
        "duration_s": sizes.w1_model_duration_s,
        "offline": offline,
        "model": model,
        "w1_model_turns_per_s": model["turns_per_s"],
        "w1_offline_turns_per_s": offline["turns_per_s"],
        "w1_model_app_cpu_ms_per_turn": app_model,
        "w1_offline_app_cpu_ms_per_turn": app_off,
        "w1_model_added_app_cpu_ms": added,
        "w1_model_stub_cpu_ms_per_turn": model["cpu_ms_per_turn"].get(STUB),
    }
