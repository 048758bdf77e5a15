"""``python -m bench.feature_cost [--feature tracing|session-index] [--size quick|full|tiny]``
(`make bench-tracing`, `make bench-index`): what a feature costs on W1.

Two private stacks in one run, one with the feature off and one with it on, measured level by
level in alternation (off then on at 1 user, then at 8, ...) so both see the same machine.
Features: ``tracing`` (on: its own Jaeger on the same machine, every turn sampled) and
``session-index`` (the index GET /sessions reads, kept with each commit; off:
``AGENT_ACTORS_LIMITS__SESSION_INDEX=false``). Prints a table of throughput, latency and CPU
with the ratios on/off, and writes it as JSON under bench/results/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import sys
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis

from bench.display import Display
from bench.sizes import QUICK, SIZES, Sizes
from bench.w1 import run_level
from devstack.private import PrivateStack, private_stack
from devstack.settings import REPO_ROOT

KEYS = ("turns_per_s", "p50_ms", "p95_ms", "p99_ms")
FEATURES = ("tracing", "session-index")


def stack_options(feature: str, on: bool) -> dict[str, Any]:
    """``private_stack`` keywords for one side of the comparison."""
    if feature == "tracing":
        return {"tracing": on}
    return {"limits": {"session_index": on}}


async def measure(
    stacks: dict[str, PrivateStack], sizes: Sizes, display: Display
) -> dict[str, Any]:
    tag = f"t{secrets.token_hex(3)}"
    levels: dict[str, Any] = {}
    for users in sizes.w1_users:
        level = {}
        for mode, stack in stacks.items():
            level[mode] = await run_level(stack, users, sizes, display, f"{tag}{mode}")
        level["ratio_on_off"] = {
            k: round(level["on"][k] / level["off"][k], 3) for k in KEYS if level["off"][k]
        }
        levels[str(users)] = level
    return levels


def index_keys(stack: PrivateStack) -> int:
    """The session index's keys in the stack's Redis (none when the index is off)."""
    client = redis.Redis(host="127.0.0.1", port=stack.redis_port)
    try:
        return sum(1 for _ in client.scan_iter("*sessions|*"))
    finally:
        client.close()


def cpu_ms_per_turn(level: dict[str, Any]) -> dict[str, float]:
    """CPU milliseconds per turn of the stack's processes (the load generator's left out)."""
    cores, rate = level["cpu_cores"], level["turns_per_s"] or 1
    stack = cores["total"] - cores["bench client"]
    out = {"stack": stack, "app": cores["app"], "daprd": cores["daprd"]}
    out["jaeger"] = cores.get("jaeger", 0.0)
    return {k: round(v / rate * 1000, 1) for k, v in out.items()}


def table(levels: dict[str, Any]) -> str:
    lines = [
        "| users | turns/s off / on | on/off | p50 ms off / on | p95 ms off / on "
        "| CPU ms per turn off / on: stack (app, daprd, Jaeger) | errors off / on |",
        "|---:|---:|---:|---:|---:|---|---:|",
    ]
    for users, lv in levels.items():
        off, on = lv["off"], lv["on"]
        c0, c1 = cpu_ms_per_turn(off), cpu_ms_per_turn(on)
        lines.append(
            f"| {users} | {off['turns_per_s']} / {on['turns_per_s']} "
            f"| {lv['ratio_on_off'].get('turns_per_s', '-')} "
            f"| {off['p50_ms']} / {on['p50_ms']} | {off['p95_ms']} / {on['p95_ms']} "
            f"| {c0['stack']} ({c0['app']}, {c0['daprd']}) / "
            f"{c1['stack']} ({c1['app']}, {c1['daprd']}, {c1['jaeger']}) "
            f"| {off['errors']} / {on['errors']} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.feature_cost", description=__doc__)
    p.add_argument("--feature", choices=FEATURES, default="tracing")
    p.add_argument("--size", choices=sorted(SIZES), default=QUICK.name)
    p.add_argument("--results-dir", type=Path, default=REPO_ROOT / "bench" / "results")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    sizes = SIZES[args.size]
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    run_dir = args.results_dir / "runs" / f"{args.feature}-{stamp}"
    with ExitStack() as started, Display(quiet=args.quiet) as display:
        stacks = {
            mode: started.enter_context(
                private_stack(
                    run_dir / mode,
                    app_api_token=secrets.token_hex(16),
                    **stack_options(args.feature, mode == "on"),
                )
            )
            for mode in ("off", "on")
        }
        levels = asyncio.run(measure(stacks, sizes, display))
        doc = {"timestamp": stamp, "profile": sizes.name, "feature": args.feature, "w1": levels}
        if args.feature == "session-index":
            doc["index_keys"] = {mode: index_keys(s) for mode, s in stacks.items()}
    out = args.results_dir / f"{args.feature}-{stamp}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    sys.stdout.write(table(levels) + f"\nwrote {out}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
