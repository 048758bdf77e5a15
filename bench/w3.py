"""W3, a slow model: a local OpenAI-protocol server answers after 500 ms; 100 users each send one
message at the same moment. If the model's latency overlaps across users, the wall time stays
near one model call; ``effective_concurrency`` = users x delay / wall time.

Then, on the same stack, many users streaming at once from a slower model (``w3_stream.py``:
1,000 users, 20 tokens over 2 s each): under ``stream`` in the result.

Needs the stub server (tools/openai_stub) and the OpenAI responder; until both exist, W3 is
reported as skipped, never faked.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench.client import Connection, Connections, HttpError
from bench.display import Display
from bench.load import latency_ms
from bench.sizes import Sizes
from bench.stack import STUB_SERVER, openai_stub_process, running_stack
from bench.w3_stream import stream_burst

OFFLINE_MARK = "Got your message:"  # how the offline responder's replies read


def skipped(reason: str) -> dict[str, Any]:
    return {"skipped": f"W3 skipped: {reason}"}


async def run_w3(run_dir: Path, sizes: Sizes, display: Display, tag: str) -> dict[str, Any]:
    if not STUB_SERVER.exists():
        return skipped("no OpenAI responder yet (tools/openai_stub/server.py is missing)")
    users, delay = sizes.w3_users, sizes.w3_delay_s
    with openai_stub_process(delay, run_dir / "logs" / "openai_stub.log") as (base_url, stub_pid):
        env = {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": "x"}
        with running_stack(run_dir, app_env=env) as stack:
            stub = Connection("127.0.0.1", urlsplit(base_url).port or 80)
            # A turn that takes longer than this is counted as an error (keeps the run bounded).
            async with Connections("127.0.0.1", stack.app_port, timeout_s=30.0) as conns:
                probe = await conns[0].post(f"/chat/{tag}-probe", {"content": "hello"})
                if probe.status_code != 200:
                    return skipped(f"the app answered {probe.status_code}: {probe.text[:200]}")
                if OFFLINE_MARK in probe.json()["response"]["content"]:
                    return skipped("no OpenAI responder yet (the app answered offline)")
                await stub.post("/_reset")
                result = await burst(conns, users, delay, display, tag)
                calls = (await stub.get("/_requests")).json()
            result.update(model_calls(calls, users))
            if sizes.w3_stream_users:
                await stub.post("/_reset")
                pids = {**stack.pids(), "openai stub": stub_pid}
                result["stream"] = await stream_burst(
                    stack.app_port,
                    sizes.w3_stream_users,
                    sizes.w3_stream_model_s,
                    sizes.w3_stream_tokens,
                    pids,
                    display,
                    tag,
                )
                calls = (await stub.get("/_requests")).json()
                result["stream"].update(model_calls(calls, sizes.w3_stream_users))
                result["stream"].update(model_call_s(calls))
            await stub.close()
            return result


def model_calls(calls: list[dict[str, Any]], users: int) -> dict[str, Any]:
    """What the model server saw: how many calls, and how many ran at the same time."""
    edges = sorted(
        [(c["started"], 1) for c in calls] + [(c["ended"], -1) for c in calls if c.get("ended")]
    )
    running = peak = 0
    for _, step in edges:
        running += step
        peak = max(peak, running)
    return {
        "model_calls": len(calls),
        "model_calls_per_turn": round(len(calls) / users, 2),
        "max_parallel_model_calls": peak,
    }


def model_call_s(calls: list[dict[str, Any]]) -> dict[str, Any]:
    """How long the model server took per call (first byte in to last byte out): the stub's
    own pacing, so a wall time can be told apart from a stub that fell behind."""
    took = sorted(c["ended"] - c["started"] for c in calls if c.get("ended"))
    if not took:
        return {"model_call_p50_s": None, "model_call_max_s": None}
    return {
        "model_call_p50_s": round(took[len(took) // 2], 3),
        "model_call_max_s": round(took[-1], 3),
    }


async def burst(
    conns: Connections, users: int, delay: float, display: Display, tag: str
) -> dict[str, Any]:
    async def one(i: int) -> tuple[bool, float]:
        t0 = time.perf_counter()
        try:
            resp = await conns[i].post(f"/chat/{tag}-slow-{i}", {"content": f"question {i}"})
        except HttpError:
            return False, time.perf_counter() - t0
        return resp.status_code == 200, time.perf_counter() - t0

    # Connect every user first, so the burst measures turns, not TCP handshakes.
    await asyncio.gather(*(conns[i].get("/healthz") for i in range(1, users)))
    with display.task(f"W3 slow model, {users} users", total=1) as task:
        t0 = time.perf_counter()
        results = await asyncio.gather(*(one(i) for i in range(users)))
        wall = time.perf_counter() - t0
        task.update(1, f"wall {wall:.2f} s")
    ok = [lat for good, lat in results if good]
    return {
        "users": users,
        "model_delay_s": delay,
        "w3_wall_s": round(wall, 3),
        "errors": users - len(ok),
        # How many users' model waits overlapped on average (users when all of them did).
        "effective_concurrency": round(users * delay / wall, 1),
        **latency_ms(ok),
        "latencies_sorted_ms": sorted(round(x * 1000, 1) for x in ok),
    }
