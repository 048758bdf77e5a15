"""``python -m bench.turn_cost``: what one turn and one conversation cost each part of the stack,
for the capacity model in docs/scaling.md (issue 28 §5). Not part of ``make bench``; ~40 s.

A private real stack (1 pair, the offline responder, retention on as a deployment that erases
idle conversations has it, so each conversation holds its one scheduler job), then:

  first   ``--users`` fresh users send one turn each, ``--concurrency`` at a time: what a
          conversation's first turn costs (activations, the retention reminder, the session
          index entry) on top of a turn
  warm    the same users send ``--turns`` more turns each: a turn's steady cost

Per phase, per turn (idle rates subtracted, as ``bench.workflow_probe`` does): CPU ms of the
app, daprd, Redis, placement and the scheduler; Redis commands (and by command) and bytes in;
the scheduler's etcd puts and bytes written. Per conversation, after both phases and Memory
caught up: Redis keys (``DBSIZE``) and bytes (``used_memory``), the scheduler's etcd keys and
bytes in use, over the users.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bench.memory_probe import turn_text
from bench.workflow_probe import App, Meters, etcd_counters, expect, idle_rates, per_turn
from devstack.private import PrivateStack, private_stack
from devstack.settings import REPO_ROOT

ETCD_GAUGES = ("etcd_debugging_mvcc_keys_total", "etcd_mvcc_db_total_size_in_use_in_bytes")
SETTLE_S = 2.0  # after a phase: the last memory updates land before the snapshot


async def phase(
    app: App,
    meters: Meters,
    idle: dict[str, Any],
    users: list[str],
    turns_each: int,
    concurrency: int,
    first: int,
) -> dict[str, Any]:
    queue = list(users)

    async def worker(w: int) -> None:
        while queue:
            user = queue.pop()
            for n in range(first, first + turns_each):
                body = {"role": "user", "content": turn_text(user, n)}
                status, got = await app.call(w, "POST", f"/chat/{user}", body)
                expect(status == 200, "turn", got)

    a = await meters.snap()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    busy = time.perf_counter() - t0
    await asyncio.sleep(SETTLE_S)
    b = await meters.snap()
    turns = len(users) * turns_each
    return {"turns": turns, "turns_per_s": round(turns / busy, 1), **per_turn(a, b, idle, turns)}


async def footprint(redis: aioredis.Redis) -> tuple[int, int]:
    info = await redis.info("memory")
    return int(await redis.dbsize()), int(info["used_memory"])


async def measure(stack: PrivateStack, args: argparse.Namespace) -> dict[str, Any]:
    app = App(stack.app_port)
    meters = Meters(stack, None)
    redis = aioredis.Redis(host="127.0.0.1", port=stack.redis_port)
    tag = f"tc{secrets.token_hex(3)}"
    users = [f"{tag}-u{i}" for i in range(args.users)]
    try:
        # Warm the code paths and the actor types' first activations on throwaway users.
        warm_users = [f"{tag}-w{i}" for i in range(4)]
        idle0 = await idle_rates(meters)
        await phase(app, meters, idle0, warm_users, 3, 4, 1)
        idle = await idle_rates(meters)
        etcd_port = stack.settings.stack.scheduler_etcd_client_port
        keys0, bytes0 = await footprint(redis)
        etcd0 = etcd_counters(etcd_port, ETCD_GAUGES)
        first = await phase(app, meters, idle, users, 1, args.concurrency, 1)
        warm = await phase(app, meters, idle, users, args.turns, args.concurrency, 2)
        keys1, bytes1 = await footprint(redis)
        etcd1 = etcd_counters(etcd_port, ETCD_GAUGES)
    finally:
        app.close()
        await meters.close()
        await redis.aclose()
    n = len(users)
    return {
        "users": n,
        "turns_per_user": 1 + args.turns,
        "concurrency": args.concurrency,
        "retention_s": args.retention_s,
        "first_turn": first,
        "warm_turn": warm,
        "per_conversation": {
            "redis_keys": round((keys1 - keys0) / n, 2),
            "redis_bytes": round((bytes1 - bytes0) / n),
            "turns": 1 + args.turns,
            # The retention reminder: a scheduler job per conversation, in its etcd.
            "etcd_keys": round(
                (etcd1.get(ETCD_GAUGES[0], 0) - etcd0.get(ETCD_GAUGES[0], 0)) / n, 2
            ),
            "etcd_bytes_in_use": round(
                (etcd1.get(ETCD_GAUGES[1], 0) - etcd0.get(ETCD_GAUGES[1], 0)) / n
            ),
        },
        "idle_per_s": {
            "redis_cmds": round(idle["redis_cmds"], 1),
            "cpu_ms": {k: round(v * 1000, 2) for k, v in idle["cpu"].items()},
        },
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.turn_cost", description=__doc__)
    p.add_argument("--users", type=int, default=200, help="fresh conversations")
    p.add_argument("--turns", type=int, default=10, help="warm turns per conversation")
    p.add_argument("--concurrency", type=int, default=16, help="users sending at once")
    p.add_argument("--retention-s", type=float, default=86_400.0, help="limits.retention_s")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "results" / "turn_cost.json")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    run_dir = args.out.parent / "runs" / f"turn-cost-{secrets.token_hex(3)}"
    with private_stack(run_dir, limits={"retention_s": args.retention_s}) as stack:
        doc = asyncio.run(measure(stack, args))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    json.dump(doc, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
