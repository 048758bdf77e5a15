"""The summary table appended to docs/BENCHMARKS.md after each run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

CPU_PARTS = ("app", "daprd", "redis", "bench client")
HEADER = "# Benchmarks\n\nRuns of `make bench`, newest last.\n\n## Runs\n"


def _mark(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "n/a"}[met]


def _num(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def section(doc: dict[str, Any], charts: list[Path], docs_file: Path) -> str:
    m, v, w0, w2, w3 = doc["machine"], doc["versions"], doc["w0"], doc["w2"], doc["w3"]
    dirty = " + uncommitted changes" if doc["commit_dirty"] else ""
    title = f"{doc['timestamp']} · {doc['profile']} profile · commit `{doc['commit'][:10]}`"
    lines = [
        f"\n### {title}{dirty}\n",
        f"Machine: {m['cpu']}, {m['cpus']} CPUs, {m['memory_gib']} GiB, {m['platform']}; "
        f"load average at start {m['load_avg_1m_at_start']} (shared machine: other work ran "
        "alongside). "
        f"Versions: Python {v['python']}, daprd {v['daprd']}, Redis {v['redis']}, dapr SDK "
        f"{v['dapr']}, FastAPI {v['fastapi']}, uvicorn {v['uvicorn']}, httpx {v['httpx']}. "
        f"Run took {doc['duration_s']:.0f} s.\n",
        "| measure | value | goal | |",
        "|---|---|---|---|",
        f"| r0_calls_per_s (W0 no-op actor calls, best at {w0['best_concurrency']} concurrent) "
        f"| {_num(doc['r0_calls_per_s'])} (p50 {w0['p50_ms']} ms) | | |",
        f"| turn limit r0/4 | {_num(doc['turn_limit_per_s'])} turns/s | | |",
    ]
    for name, g in doc["goals"].items():
        lines.append(f"| {name} | {_num(g['value'], 3)} | {g['goal']} | {_mark(g['met'])} |")
    lines += [
        f"| W2 p50 first / last {w2['edge_turns']} turns of {w2['turns']} | "
        f"{w2['p50_first_ms']} / {w2['p50_last_ms']} ms | | |",
        f"| W2 Redis bytes written per turn, first / last | {w2['redis_bytes_per_turn_first']} / "
        f"{w2['redis_bytes_per_turn_last']} | | |",
    ]
    if "skipped" in w3:
        lines.append(f"| W3 | {w3['skipped']} | | |")
    else:
        lines.append(
            f"| W3 {w3['users']} users, model {w3['model_delay_s']} s | wall {w3['w3_wall_s']} s, "
            f"effective concurrency {w3['effective_concurrency']}, errors {w3['errors']} | | |"
        )
    lines += [
        "",
        "| W1 users | turns/s | p50 ms | p95 ms | p99 ms | memory lag p50 ms | errors | CPU cores "
        "(app / daprd / redis / client) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for users, lv in doc["w1"].items():
        cpu = lv["cpu_cores"]
        split = " / ".join(f"{cpu.get(k, 0):.2f}" for k in CPU_PARTS)
        lines.append(
            f"| {users} | {lv['turns_per_s']} | {lv['p50_ms']} | {lv['p95_ms']} | {lv['p99_ms']} "
            f"| {lv['memory_lag_p50_ms']} | {lv['errors']} | {split} |"
        )
    prof = doc.get("profile_app")
    if prof and "error" not in prof:
        pkg = ", ".join(f"{k} {p}%" for k, p in prof["self_by_package_pct"][:8])
        incl = ", ".join(f"`{k}` {p}%" for k, p in prof["inclusive_by_function_pct"][:12])
        lines += [
            "",
            f"Where the app's time goes ({prof['tool']}, W1 at {prof['users']} users, "
            f"{prof['samples']} samples): by package (leaf frame) {pkg}. "
            f"Most often on the stack: {incl}.",
        ]
    elif prof:
        lines += ["", f"Profile: {prof['error']}"]
    base = docs_file.parent
    rel = [p.relative_to(base) if p.is_relative_to(base) else p for p in charts]
    if rel:
        lines += ["", "Charts: " + ", ".join(f"[{p.stem}]({p})" for p in rel)]
    lines.append("")
    return "\n".join(lines)


def append(doc: dict[str, Any], charts: list[Path], docs_file: Path) -> None:
    docs_file.parent.mkdir(parents=True, exist_ok=True)
    if not docs_file.exists():
        docs_file.write_text(HEADER)
    with docs_file.open("a") as out:
        out.write(section(doc, charts, docs_file))
