"""``python -m bench.workflow_probe``: long turns as today's run records + reminder vs Dapr
Workflow, on private real stacks (issue 27 §2). Not part of ``make bench``: three stacks and
nine kill -9s take about 2.5 minutes.

Every turn has one shape: a model call that asks for ``current_time``, the tool, a model call
with its result, the commit; the model is ``tools/openai_stub`` answering after ``--delay``.

Phases, each over ``--turns`` turns by ``--users`` concurrent users (fresh ids):
  sync       POST /chat/{id}                          today's sync turn (the actor path)
  long       POST /chat/{id} + Prefer: respond-async, then GET .../turns/{seq}?wait=30
             (today's long turn: turn record, reminder, background run, EndRun)
  direct     the same four steps run in the app's loop, no durability (bench/workflow_app.py)
  workflow   the same four steps as a Dapr Workflow with three kinds of activity, in the
             app process's worker thread; scheduled and long-polled through the app
  burst      sync turns with no tool and no model delay, many users: the actor path's
             throughput, with and without the worker in the process
Per phase: CPU ms per turn of each process (idle rate subtracted), Redis commands and bytes
in per turn, the scheduler's writes (its etcd: bytes its process wrote, and etcd's own put
and delete counters), latency, and the app's event-loop lag (a 10 ms tick in uvicorn's loop).

Resume: a turn of the same shape with a slower model is under way when the app is killed
(-9); the stack's watchdog starts it again. Measured: kill -> app ready -> turn done; today's
path with turn_check_s 5 and 1, the workflow with the worker reconnecting.

Stacks: ``plain`` (the app, no worker), ``workflow`` (the app with the worker), ``check1``
(the app, turn_check_s 1: resume only). The report (JSON, and a Markdown table) goes to
``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import statistics
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from agent_actors.sidecar.http1 import Http1Pool
from bench.cpu import cpu_seconds
from bench.stack import openai_stub_process
from devstack.pairs import PairPorts
from devstack.private import PrivateStack, limits_env, private_pairs, private_settings
from devstack.process import ManagedProcess
from devstack.settings import REPO_ROOT
from devstack.supervisor import Stack

JSON = {"Content-Type": "application/json"}
ASYNC = {**JSON, "Prefer": "respond-async"}
SETTLE_S = 1.5  # after a phase's last turn: memory updates, reminders going, etc.
IDLE_S = 5.0
# etcd's own counters of the scheduler's writes (its metrics on the etcd client port).
ETCD_COUNTERS = ("etcd_mvcc_put_total", "etcd_mvcc_delete_total", "etcd_mvcc_txn_total")


class ProbeStack(Stack):
    """The devstack, its app started as ``bench.workflow_app`` (the real app plus the probe's
    meter, and the workflow worker when asked)."""

    def _app(self, pair: PairPorts) -> ManagedProcess:
        proc = super()._app(pair)
        proc.argv = [
            "bench.workflow_app:create_app" if a == "agent_actors.main:create_app" else a
            for a in proc.argv
        ]
        proc.cwd = REPO_ROOT
        return proc


@contextmanager
def probe_stack(
    run_dir: Path, env: dict[str, str], limits: dict[str, object]
) -> Iterator[PrivateStack]:
    settings = private_settings(run_dir, secrets.token_hex(16), **limits)
    stack = ProbeStack(
        settings, app_env={**limits_env(limits), **env}, pairs=private_pairs(settings)
    )
    try:
        stack.start()
        yield PrivateStack(stack, settings)
    finally:
        stack.stop()


# -- meters -----------------------------------------------------------------------------------


def proc_write_bytes(pid: int) -> int:
    """Bytes ``pid`` passed to write(2) (``wchar``: counted whatever the filesystem)."""
    try:
        text = Path(f"/proc/{pid}/io").read_text()
    except OSError:
        return 0
    return int(re.search(r"^wchar: (\d+)", text, re.M).group(1))  # type: ignore[union-attr]


def etcd_counters(port: int, names: tuple[str, ...] = ETCD_COUNTERS) -> dict[str, float]:
    """``names`` (counters summed over their labels, or gauges) from the scheduler's etcd's
    metrics on its client port; {} when it does not answer."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
            text = resp.read().decode()
    except OSError:
        return {}
    out: dict[str, float] = {}
    for line in text.splitlines():
        name = line.split("{", 1)[0].split(" ", 1)[0]
        if name in names:
            out[name] = out.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return out


class Meters:
    """A snapshot of every counter the probe reads; the difference of two is a window."""

    def __init__(self, stack: PrivateStack, stub_pid: int | None) -> None:
        self.stack = stack
        self.redis = aioredis.Redis(host="127.0.0.1", port=stack.redis_port)
        self.stub_pid = stub_pid

    def pids(self) -> dict[str, int]:
        pids = self.stack.pids()
        mine = {
            "app": pids["app"],
            "daprd": pids["daprd"],
            "redis": pids["redis"],
            "scheduler": pids["scheduler"],
            "placement": pids["placement"],
            "client": os.getpid(),
        }
        # No model server when the turns use the offline responder (bench/turn_cost.py).
        return mine if self.stub_pid is None else {**mine, "stub": self.stub_pid}

    async def snap(self) -> dict[str, Any]:
        stats = await self.redis.info("stats")
        commands = await self.redis.info("commandstats")
        pids = self.pids()
        return {
            "t": time.perf_counter(),
            "cpu": {name: cpu_seconds(pid) for name, pid in pids.items()},
            "redis_cmds": int(stats["total_commands_processed"]),
            "redis_in": int(stats["total_net_input_bytes"]),
            "by_cmd": {k.removeprefix("cmdstat_"): int(v["calls"]) for k, v in commands.items()},
            "sched_wchar": proc_write_bytes(pids["scheduler"]),
            "etcd": etcd_counters(self.stack.settings.stack.scheduler_etcd_client_port),
        }

    @staticmethod
    def rates(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        """Per second between two snapshots (the idle window)."""
        wall = b["t"] - a["t"]
        return {
            "cpu": {k: (b["cpu"][k] - a["cpu"][k]) / wall for k in a["cpu"]},
            "redis_cmds": (b["redis_cmds"] - a["redis_cmds"]) / wall,
            "redis_in": (b["redis_in"] - a["redis_in"]) / wall,
            "by_cmd": {
                k: (b["by_cmd"].get(k, 0) - a["by_cmd"].get(k, 0)) / wall for k in b["by_cmd"]
            },
            "sched_wchar": (b["sched_wchar"] - a["sched_wchar"]) / wall,
            "etcd": {k: (b["etcd"].get(k, 0) - a["etcd"].get(k, 0)) / wall for k in b["etcd"]},
        }

    async def close(self) -> None:
        await self.redis.aclose()


def per_turn(
    a: dict[str, Any], b: dict[str, Any], idle: dict[str, Any], turns: int
) -> dict[str, Any]:
    """The window's cost per turn, the idle rate over the window subtracted."""
    wall = b["t"] - a["t"]

    def less_idle(delta: float, rate: float) -> float:
        return float(max(0.0, delta - rate * wall) / turns)

    cpu_ms = {
        k: round(less_idle(b["cpu"][k] - a["cpu"][k], idle["cpu"][k]) * 1000, 2)
        for k in a["cpu"]
        if k != "client"
    }
    by_cmd = {
        k: round(
            less_idle(b["by_cmd"].get(k, 0) - a["by_cmd"].get(k, 0), idle["by_cmd"].get(k, 0)), 1
        )
        for k in b["by_cmd"]
    }
    return {
        "cpu_ms": cpu_ms,
        "cpu_ms_stack": round(sum(cpu_ms.values()) - cpu_ms.get("stub", 0.0), 2),
        "redis_cmds": round(less_idle(b["redis_cmds"] - a["redis_cmds"], idle["redis_cmds"]), 1),
        "redis_in_bytes": round(less_idle(b["redis_in"] - a["redis_in"], idle["redis_in"])),
        "redis_by_cmd": {
            k: v for k, v in sorted(by_cmd.items(), key=lambda kv: -kv[1]) if v >= 0.5
        },
        "sched_write_bytes": round(
            less_idle(b["sched_wchar"] - a["sched_wchar"], idle["sched_wchar"])
        ),
        "etcd_ops": {
            k.removeprefix("etcd_mvcc_").removesuffix("_total"): round(
                less_idle(b["etcd"].get(k, 0) - a["etcd"].get(k, 0), idle["etcd"].get(k, 0)), 2
            )
            for k in b["etcd"]
        },
    }


# -- the app's HTTP ---------------------------------------------------------------------------


class App:
    """One keep-alive connection per worker to the app (the bench client's ``Http1Pool``)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self._pools: dict[int, Http1Pool] = {}

    def pool(self, worker: int) -> Http1Pool:
        if worker not in self._pools:
            self._pools[worker] = Http1Pool("127.0.0.1", self.port, 90.0)
        return self._pools[worker]

    async def call(
        self, worker: int, method: str, path: str, body: Any = None, headers: dict[str, str] = JSON
    ) -> tuple[int, Any]:
        payload = None if body is None else json.dumps(body).encode()
        status, raw = await self.pool(worker).request(method, path, payload, headers)
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")

    def close(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


def expect(ok: bool, what: str, got: Any) -> None:
    if not ok:
        raise RuntimeError(f"{what}: {got!r}"[:600])


Turn = Callable[[App, int, str, int], Awaitable[None]]


async def sync_turn(app: App, worker: int, user: str, i: int) -> None:
    body = {"role": "user", "content": f"[[tool:current_time]] sync {user} {i}"}
    status, got = await app.call(worker, "POST", f"/chat/{user}", body)
    expect(status == 200 and "said" in got["response"]["content"], "sync turn", got)


async def burst_turn(app: App, worker: int, user: str, i: int) -> None:
    body = {"role": "user", "content": f"[[delay:0]] burst {user} {i}"}
    status, got = await app.call(worker, "POST", f"/chat/{user}", body)
    expect(status == 200, "burst turn", got)


async def long_turn(app: App, worker: int, user: str, i: int, content: str = "") -> None:
    body = {"role": "user", "content": content or f"[[tool:current_time]] long {user} {i}"}
    status, got = await app.call(worker, "POST", f"/chat/{user}", body, ASYNC)
    expect(status == 202, "long turn's POST", got)
    await wait_long(app, worker, user, int(got["seq"]), 60)


async def wait_long(app: App, worker: int, user: str, seq: int, within_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            status, got = await app.call(worker, "GET", f"/chat/{user}/turns/{seq}?wait=30")
        except Exception:  # the app is away (restarting): ask again
            await asyncio.sleep(0.05)
            continue
        if status == 200 and got["status"] == "done":
            expect("said" in got["response"]["content"], "long turn", got)
            return dict(got)
        expect(status in (200, 502, 503) and got.get("status") != "failed", "long turn", got)
        if status != 200:
            await asyncio.sleep(0.05)
    raise RuntimeError(f"long turn {user}/{seq} not done within {within_s} s")


async def direct_turn(app: App, worker: int, user: str, i: int) -> None:
    body = {"content": f"[[tool:current_time]] direct {user} {i}"}
    status, got = await app.call(worker, "POST", f"/_probe/direct/{user}-{i}", body)
    expect(status == 200 and "said" in got["reply"], "direct turn", got)


async def workflow_turn(app: App, worker: int, user: str, i: int, content: str = "") -> None:
    key = f"{user}-{i}"
    body = {"content": content or f"[[tool:current_time]] workflow {user} {i}"}
    status, got = await app.call(worker, "POST", f"/_probe/workflow/{key}", body)
    expect(status == 202, "workflow's POST", got)
    await wait_workflow(app, worker, key, 60)


async def wait_workflow(app: App, worker: int, key: str, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            status, got = await app.call(worker, "GET", f"/_probe/workflow/{key}?wait=30")
        except Exception:
            await asyncio.sleep(0.05)
            continue
        if status == 200 and got["status"] == "COMPLETED":
            expect("said" in json.loads(got["output"]), "workflow", got)
            return
        expect(status != 200 or got["status"] in ("RUNNING", "PENDING"), "workflow", got)
        await asyncio.sleep(0.05)
    raise RuntimeError(f"workflow {key} not done within {within_s} s")


# -- phases -----------------------------------------------------------------------------------


async def idle_rates(meters: Meters) -> dict[str, Any]:
    a = await meters.snap()
    await asyncio.sleep(IDLE_S)
    return Meters.rates(a, await meters.snap())


async def phase(
    app: App, meters: Meters, idle: dict[str, Any], turn: Turn, turns: int, users: int, tag: str
) -> dict[str, Any]:
    latencies: list[float] = []
    queue = list(range(turns))

    async def worker(w: int) -> None:
        user = f"{tag}-u{w}"
        while queue:
            i = queue.pop()
            t0 = time.perf_counter()
            await turn(app, w, user, i)
            latencies.append(time.perf_counter() - t0)

    await app.call(0, "GET", "/_probe/lag")  # resets it
    a = await meters.snap()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(users)))
    busy = time.perf_counter() - t0
    _, lag = await app.call(0, "GET", "/_probe/lag")
    await asyncio.sleep(SETTLE_S)
    b = await meters.snap()
    latencies.sort()
    return {
        "turns": turns,
        "users": users,
        "turns_per_s": round(turns / busy, 1),
        "latency_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "latency_p95_ms": round(latencies[int(len(latencies) * 0.95) - 1] * 1000, 1),
        "loop_lag": lag,
        **per_turn(a, b, idle, turns),
    }


def model_calls(stub_url: str, containing: str) -> int:
    """Requests the stub model got whose user message holds ``containing``."""
    with urllib.request.urlopen(stub_url.removesuffix("/v1") + "/_requests", timeout=10) as resp:
        return sum(containing in r["text"] for r in json.loads(resp.read()))


async def resume_trial(
    stack: PrivateStack,
    app: App,
    start: Callable[[], Awaitable[Any]],
    done: Callable[[], Awaitable[Any]],
) -> dict[str, float]:
    """Start a turn, kill -9 the app while its first model call is under way, and time it."""
    await start()
    await asyncio.sleep(0.5)  # the model answers after --resume-delay: mid-call now
    t_kill = time.perf_counter()
    back_s = await asyncio.to_thread(stack.stack.crash, "app")
    t_ready = time.perf_counter()
    app.close()  # its connections went with the app
    await done()
    t_done = time.perf_counter()
    return {
        "exit_to_ready_s": round(back_s, 2),
        "kill_to_ready_s": round(t_ready - t_kill, 2),
        "ready_to_done_s": round(t_done - t_ready, 2),
        "kill_to_done_s": round(t_done - t_kill, 2),
    }


async def resume(
    stack: PrivateStack,
    app: App,
    stub_url: str,
    tag: str,
    args: argparse.Namespace,
    workflow: bool,
) -> dict[str, Any]:
    """``args.resume_trials`` kills, each during a turn's first model call (today's long turn,
    or the workflow), after one undisturbed turn of the same content for reference."""
    content = f"[[delay:{args.resume_delay}]] [[tool:current_time]] resume"
    t0 = time.perf_counter()
    if workflow:
        await workflow_turn(app, 0, f"{tag}-ref", 0, content)
    else:
        await long_turn(app, 0, f"{tag}-ref", 0, content)
    undisturbed = time.perf_counter() - t0
    out: list[dict[str, Any]] = []
    for n in range(args.resume_trials):
        key = f"{tag}-r{n}"
        body: dict[str, Any] = {"content": f"{content} {key}"}
        done: Callable[[], Awaitable[Any]]
        if workflow:
            path, done = f"/_probe/workflow/{key}", partial(wait_workflow, app, 0, key, 300)
        else:
            path, done = f"/chat/{key}", partial(wait_long, app, 0, key, 1, 300)
            body["role"] = "user"

        async def start(path: str = path, body: dict[str, Any] = body) -> None:
            status, got = await app.call(0, "POST", path, body, JSON if workflow else ASYNC)
            expect(status == 202, "the resumed turn's POST", got)

        out.append(await resume_trial(stack, app, start, done))
        # 3 for a turn of 2: the model call under way at the kill was made again.
        out[-1]["model_calls"] = model_calls(stub_url, key)
    return {"undisturbed_s": round(undisturbed, 2), "trials": out}


async def wait_worker(app: App, within_s: float = 60) -> None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        _, got = await app.call(0, "GET", "/_probe/lag")
        if got["workflow_ready"]:
            return
        await asyncio.sleep(0.2)
    raise RuntimeError("the workflow worker did not get ready")


# -- the run ----------------------------------------------------------------------------------


async def run_stack(
    name: str,
    stack: PrivateStack,
    stub: tuple[str, int],
    args: argparse.Namespace,
    tag: str,
    phases: list[str],
    worker: bool,
) -> dict[str, Any]:
    stub_url, stub_pid = stub
    app = App(stack.app_port)
    meters = Meters(stack, stub_pid)
    out: dict[str, Any] = {}
    try:
        if worker:
            await wait_worker(app)
        # Warm up: the actor types placed, the stub's and daprd's connections open.
        await sync_turn(app, 0, f"{tag}-warm", 0)
        await long_turn(app, 0, f"{tag}-warm", 1)
        if worker:
            await workflow_turn(app, 0, f"{tag}-warm", 0)
            await direct_turn(app, 0, f"{tag}-warm", 0)
        await asyncio.sleep(SETTLE_S)
        await app.call(0, "GET", "/_probe/lag")
        idle = await idle_rates(meters)
        _, idle_lag = await app.call(0, "GET", "/_probe/lag")
        out["idle"] = {
            "cpu_ms_per_s": {k: round(v * 1000, 2) for k, v in idle["cpu"].items()},
            "redis_cmds_per_s": round(idle["redis_cmds"], 1),
            "sched_write_bytes_per_s": round(idle["sched_wchar"]),
            "loop_lag": idle_lag,
            "threads": idle_lag["threads"],
        }
        turns: dict[str, Turn] = {
            "sync": sync_turn,
            "long": long_turn,
            "direct": direct_turn,
            "workflow": workflow_turn,
            "burst": burst_turn,
        }
        for ph in phases:
            if ph.startswith("resume"):
                continue
            n, users = (args.burst, args.burst_users) if ph == "burst" else (args.turns, args.users)
            print(f"[{name}] {ph}: {n} turns, {users} users", file=sys.stderr)
            out[ph] = await phase(app, meters, idle, turns[ph], n, users, f"{tag}-{name}-{ph}")
        if "resume_long" in phases:
            print(f"[{name}] resume (today's path)", file=sys.stderr)
            out["resume_long"] = await resume(
                stack, app, stub_url, f"{tag}-{name}-rl", args, workflow=False
            )
        if "resume_workflow" in phases:
            print(f"[{name}] resume (workflow)", file=sys.stderr)
            out["resume_workflow"] = await resume(
                stack, app, stub_url, f"{tag}-{name}-rw", args, workflow=True
            )
    finally:
        app.close()
        await meters.close()
    return out


STACKS: dict[str, tuple[bool, float, list[str]]] = {
    # name: (workflow worker, turn_check_s, phases)
    "plain": (False, 5.0, ["burst", "sync", "long", "resume_long"]),
    "workflow": (True, 5.0, ["burst", "sync", "long", "direct", "workflow", "resume_workflow"]),
    "check1": (False, 1.0, ["resume_long"]),
}


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    tag = f"p{secrets.token_hex(3)}"
    run_dir = args.out / f"run-{tag}"
    doc: dict[str, Any] = {
        "args": {k: str(v) for k, v in vars(args).items()},
        "load_avg_at_start": os.getloadavg(),
        "stacks": {},
    }
    with openai_stub_process(args.delay, run_dir / "stub.log") as (stub_url, stub_pid):
        for name in args.stacks:
            worker, check_s, phases = STACKS[name]
            phases = [ph for ph in phases if args.phases is None or ph in args.phases]
            if not phases:
                continue
            env = {
                "OPENAI_BASE_URL": stub_url,
                "OPENAI_API_KEY": "probe-key",
                "OPENAI_MODEL": "stub-model",
                "PROBE_WORKFLOW": "1" if worker else "0",
            }
            limits: dict[str, object] = {"turn_check_s": check_s}
            print(f"[{name}] starting the stack", file=sys.stderr)
            with probe_stack(run_dir / name, env, limits) as stack:
                doc["stacks"][name] = await run_stack(
                    name, stack, (stub_url, stub_pid), args, tag, phases, worker
                )
                doc["stacks"][name]["load_avg"] = os.getloadavg()
    doc["load_avg_at_end"] = os.getloadavg()
    return doc


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.workflow_probe", description=__doc__)
    p.add_argument("--turns", type=int, default=50)
    p.add_argument("--users", type=int, default=10)
    p.add_argument("--burst", type=int, default=400, help="sync turns of the burst phase")
    p.add_argument("--burst-users", type=int, default=32)
    p.add_argument("--delay", type=float, default=0.1, help="the stub model's answer delay (s)")
    p.add_argument("--resume-delay", type=float, default=1.0, help="model delay in resume trials")
    p.add_argument("--resume-trials", type=int, default=3)
    p.add_argument("--stacks", nargs="+", default=list(STACKS), choices=list(STACKS))
    p.add_argument(
        "--phases",
        nargs="+",
        choices=sorted({ph for _, _, phases in STACKS.values() for ph in phases}),
        help="only these phases (default: all of each stack's)",
    )
    p.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results" / "workflow")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    doc = asyncio.run(main_async(args))
    stamp = time.strftime("%Y%m%dT%H%M%S")
    path = args.out / f"workflow-probe-{stamp}.json"
    path.write_text(json.dumps(doc, indent=2))
    print(json.dumps(doc, indent=2))
    print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
