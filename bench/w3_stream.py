"""W3's second level: many users streaming at once from a slow model (issue 28 §3).

``w3_stream_users`` users (1,000 in the quick and full sizes) each open ``POST /chat/{id}/stream``
at the same moment; the model (tools/openai_stub) streams each reply's ``w3_stream_tokens``
tokens over ``w3_stream_model_s`` (a token every model_s / tokens, paced from the stream's
start). A stream counts as complete when its body holds every token of the reply and a
``done`` event whose content is that reply.

The client is the bench's own ``Http1Pool`` (bench/client.py), one connection per user,
opened before the burst; it reads each SSE body whole and parses it after, so the client's
work during the burst is one read per chunk (its CPU is reported: ``cpu_cores["bench
client"]``). The app's RSS (and daprd's, Redis's) is sampled every ``RSS_EVERY_S`` during
the burst: its peak is reported.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections import Counter
from typing import Any

from bench.client import Connections, HttpError
from bench.cpu import CpuMeter
from bench.display import Display
from bench.load import latency_ms
from bench.rss import rss_mb

RSS_EVERY_S = 0.05
FDS_EVERY = 10  # samples
# Longer than any stream may take here: a stream not over by then counts as "no answer".
STREAM_TIMEOUT_S = 90.0


def message(user: int, tokens: int, model_s: float) -> tuple[str, str]:
    """The user's message and the reply the stub streams for it: ``tokens`` words, verbatim,
    one every model_s / tokens seconds, with no wait before the first."""
    reply = " ".join(f"u{user}t{k}" for k in range(tokens))
    return f"[[verbatim]] [[delay:0]] [[token_delay:{model_s / tokens:g}]] {reply}", reply


def read_stream(body: bytes) -> tuple[str, str | None, list[str], str | None]:
    """The text of a stream's tokens (a ``reset`` drops those before it), the content of its
    ``done`` event (None: no done), the names of its events in order, and the code of its
    ``error`` event (None: none)."""
    text, done, names, error = "", None, [], None
    for block in body.decode(errors="replace").split("\n\n"):
        name, data = "message", ""
        for line in block.splitlines():
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
        if not data:
            continue  # a ping comment, or the blank after the last event
        names.append(name)
        if name == "reset":
            text = ""
        elif name == "token":
            text += json.loads(data).get("text", "")
        elif name == "done":
            done = json.loads(data).get("content")
        elif name == "error":
            error = str(json.loads(data).get("code"))
    return text, done, names, error


def open_fds(pid: int) -> int | None:
    """How many file descriptors ``pid`` holds (sockets included); None when it is gone."""
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


async def peaks(
    pids: dict[str, int], stop: asyncio.Event
) -> tuple[dict[str, float], dict[str, int]]:
    """The largest RSS (MB) and number of open file descriptors each of ``pids`` had,
    sampled until ``stop`` is set."""
    peak: dict[str, float] = {}
    fds: dict[str, int] = {}
    tick = 0
    while True:
        tick += 1
        for name, pid in pids.items():
            mb = rss_mb(pid)
            if mb is not None:
                peak[name] = max(peak.get(name, 0.0), mb)
            # Listing thousands of descriptors costs the client: every tenth sample only.
            if tick % FDS_EVERY == 1 and (n := open_fds(pid)) is not None:
                fds[name] = max(fds.get(name, 0), n)
        if stop.is_set():
            return peak, fds
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), RSS_EVERY_S)


async def stream_burst(
    app_port: int,
    users: int,
    model_s: float,
    tokens: int,
    pids: dict[str, int],
    display: Display,
    tag: str,
) -> dict[str, Any]:
    """The burst: every user's stream at once; what each got, the wall time, CPU and RSS."""
    async with Connections("127.0.0.1", app_port, timeout_s=STREAM_TIMEOUT_S) as conns:
        # Connect every user first, so the burst measures streams, not TCP handshakes.
        await asyncio.gather(*(conns[i].get("/healthz") for i in range(users)))

        odd: list[dict[str, Any]] = []  # the first few incomplete streams, as they were

        # A stream that started and then failed is a 200 whose last event is an error.
        errors: Counter[str] = Counter()

        async def one(i: int) -> tuple[str, bool, float]:
            text, reply = message(i, tokens, model_s)
            t0 = time.perf_counter()
            try:
                resp = await conns[i].post(f"/chat/{tag}-stream-{i}/stream", {"content": text})
            except HttpError:
                return "no answer", False, time.perf_counter() - t0
            took = time.perf_counter() - t0
            if resp.status_code != 200:
                return str(resp.status_code), False, took
            streamed, done, names, error = read_stream(resp.content)
            if error is not None:
                errors[error] += 1
            whole = streamed == reply and done == reply
            if not whole and len(odd) < 3:
                odd.append(
                    {
                        "user": i,
                        "events": Counter(names),
                        "tokens_text": streamed,
                        "done": done,
                        "reply": reply,
                        "body": resp.text[-3000:],
                    }
                )
            return "200", whole, took

        stop = asyncio.Event()
        sampler = asyncio.create_task(peaks(pids, stop))
        before = {name: rss_mb(pid) for name, pid in pids.items()}
        meter = CpuMeter(pids)
        with display.task(f"W3 {users} users streaming", total=1) as task:
            meter.start()
            t0 = time.perf_counter()
            results = await asyncio.gather(*(one(i) for i in range(users)))
            wall = time.perf_counter() - t0
            cores = meter.stop()
            task.update(1, f"wall {wall:.2f} s")
        stop.set()
        peak, fds = await sampler
    statuses = Counter(status for status, _, _ in results)
    complete = [took for _, whole, took in results if whole]
    return {
        "users": users,
        "model_s": model_s,
        "tokens": tokens,
        "wall_s": round(wall, 3),
        "complete": len(complete),
        # 200s whose body lacked a token or the done event (or held other text).
        "incomplete": statuses["200"] - len(complete),
        "statuses": dict(sorted(statuses.items())),
        "server_errors": sum(n for s, n in statuses.items() if s.startswith("5")),
        "error_events": dict(sorted(errors.items())),
        "effective_concurrency": round(users * model_s / wall, 1),
        **latency_ms(complete),
        "latencies_sorted_ms": sorted(round(x * 1000, 1) for x in complete),
        "cpu_cores": cores,
        "cpu_s": {name: round(c * wall, 2) for name, c in cores.items()},
        "rss_before_mb": before,
        "rss_peak_mb": peak,
        "fds_peak": fds,
        "incomplete_examples": odd,
    }
