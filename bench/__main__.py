"""``python -m bench [--full]``: run W0-W3 on private real stacks and write the report."""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import shutil
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent_actors.settings import REPO_ROOT
from bench import charts, markdown, meta, results
from bench.appprofile import profile_app
from bench.display import Display
from bench.sizes import FULL, QUICK, SIZES, Sizes
from bench.stack import running_stack
from bench.w0 import run_w0
from bench.w1 import run_w1
from bench.w2 import run_w2
from bench.w3 import run_w3

log = logging.getLogger("bench")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--full", action="store_true", help="the full profile (default: quick)")
    p.add_argument("--size", choices=sorted(SIZES), help="quick, full or tiny (the harness test)")
    p.add_argument("--results-dir", type=Path, default=REPO_ROOT / "bench" / "results")
    p.add_argument("--charts-dir", type=Path, default=REPO_ROOT / "docs" / "bench")
    p.add_argument("--docs", type=Path, default=REPO_ROOT / "docs" / "BENCHMARKS.md",
                   help="the Markdown file the summary table is appended to")  # fmt: skip
    p.add_argument("--no-docs", action="store_true", help="write no table and no charts")
    p.add_argument(
        "--app-profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="py-spy the app under W1 when a goal is missed (auto), always, never",
    )
    p.add_argument("--quiet", action="store_true", help="no progress display")
    return p.parse_args(argv)


async def measure(sizes: Sizes, args: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    tag = f"b{secrets.token_hex(3)}"  # fresh actor ids every run
    doc: dict[str, Any] = {"profile": sizes.name}
    with Display(quiet=args.quiet) as display:
        # W3 first, on its own stack (the model server's responder); then the main stack.
        w3 = await run_w3(run_dir / "w3", sizes, display, tag)
        env = {"AGENT_ACTORS_BENCH_ACTOR": "1"}
        with running_stack(run_dir / "main", app_env=env) as stack:
            doc["versions"] = meta.versions(stack.settings.stack.bin_dir)
            w0 = await run_w0(stack, sizes, display, tag)
            w1 = (await run_w1(stack, sizes, display, tag))["by_users"]
            w2 = await run_w2(stack, sizes, display, tag)
            doc.update(
                r0_calls_per_s=w0["r0_calls_per_s"], w0=w0, w1=w1,
                w2_growth=w2["w2_growth"], w2=w2, w3_wall_s=w3.get("w3_wall_s"), w3=w3,
            )  # fmt: skip
            doc.update(results.ratios(doc))
            doc["goals"] = results.goals(doc)
            wanted = args.app_profile == "always" or (
                args.app_profile == "auto" and results.missed(doc)
            )
            if wanted:
                doc["profile_app"] = await profile_app(
                    stack, sizes, display, tag, args.results_dir / "profiles"
                )
    return doc


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    sizes = SIZES[args.size] if args.size else (FULL if args.full else QUICK)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    run_dir = args.results_dir / "runs" / stamp
    t0 = time.perf_counter()
    head = {
        "schema": 1,
        "timestamp": started.isoformat(timespec="seconds"),
        "machine": meta.machine(),
        **meta.commit(),
    }
    doc = {**head, **asyncio.run(measure(sizes, args, run_dir))}
    doc["duration_s"] = round(time.perf_counter() - t0, 1)
    doc["run_dir"] = str(run_dir)
    for data in ("redis", "scheduler-etcd"):  # keep the logs, drop the data
        for part in ("main", "w3"):
            shutil.rmtree(run_dir / part / data, ignore_errors=True)
    written = [results.write(doc, args.results_dir)]
    if not args.no_docs:
        drawn = charts.draw(doc, args.charts_dir)
        markdown.append(doc, drawn, args.docs)
        written += [*drawn, args.docs]
    out = sys.stdout
    out.write(markdown.section(doc, [], args.docs) + "\n")
    out.writelines(f"wrote {path}\n" for path in written)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
