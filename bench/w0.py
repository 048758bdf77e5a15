"""W0, the limit: a no-op actor method (BenchActor.Ping) called through the same daprd.

The load generator calls daprd's actor API directly, as the app's own actor calls do, over
distinct actor ids per worker (one id is turn-locked: calls to it run one at a time), at
several concurrencies; the best rate is ``r0_calls_per_s``.
"""

from __future__ import annotations

from typing import Any

from bench.client import Connections
from bench.display import Display
from bench.load import closed_loop
from bench.sizes import Sizes
from devstack.private import PrivateStack

IDS_PER_WORKER = 4


async def run_w0(stack: PrivateStack, sizes: Sizes, display: Display, tag: str) -> dict[str, Any]:
    by_concurrency: dict[str, dict[str, Any]] = {}
    for conc in sizes.w0_concurrency:
        async with Connections("127.0.0.1", stack.daprd_port) as conns:

            async def ping(
                worker: int, i: int, conns: Connections = conns, conc: int = conc
            ) -> bool:
                actor = f"{tag}-c{conc}-w{worker}-{i % IDS_PER_WORKER}"
                resp = await conns[worker].post(f"/v1.0/actors/BenchActor/{actor}/method/Ping")
                return resp.status_code == 200

            result = await closed_loop(
                conc,
                ping,
                warmup_s=sizes.w0_warmup_s,
                duration_s=sizes.w0_duration_s,
                display=display,
                label=f"W0 limit, {conc} concurrent",
            )
        by_concurrency[str(conc)] = result.summary()
    best = max(by_concurrency, key=lambda c: by_concurrency[c]["per_s"])
    top = by_concurrency[best]
    return {
        "r0_calls_per_s": round(top["per_s"], 1),
        "best_concurrency": int(best),
        **{k: top[k] for k in ("p50_ms", "p95_ms", "p99_ms")},
        "by_concurrency": by_concurrency,
    }
