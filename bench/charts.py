"""PNG charts of one result document (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path
from statistics import median
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from bench import scale_report


def draw(doc: dict[str, Any], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    if "w0" in doc:
        paths.append(_w0(doc, out_dir))
    if "w1" in doc and "w1_vs_limit" in doc:
        paths += [_w1(doc, out_dir), _w1_cpu(doc, out_dir)]
    if "w2" in doc:
        paths.append(_w2(doc, out_dir))
    if "w3" in doc and "skipped" not in doc["w3"]:
        paths.append(_w3(doc, out_dir))
    if "w8" in doc and "skipped" not in doc["w8"]:
        paths.append(_w8(doc, out_dir))
    if "w7" in doc:
        paths.append(_w7(doc, out_dir))
    if "w9" in doc:
        paths.append(_w9(doc, out_dir))
    paths += scale_report.draw(doc, out_dir, _save)
    return paths


def _save(fig: Any, path: Path, doc: dict[str, Any]) -> Path:
    fig.suptitle(f"{fig.get_suptitle()}  ({doc['profile']}, {doc['commit'][:8]})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _w0(doc: dict[str, Any], out_dir: Path) -> Path:
    by = doc["w0"]["by_concurrency"]
    conc = list(by)
    fig, ax = plt.subplots(figsize=(7, 3.8))
    ax.bar(conc, [by[c]["per_s"] for c in conc], color="tab:gray")
    ax.set_xlabel("concurrent callers")
    ax.set_ylabel("no-op actor calls / s")
    ax2 = ax.twinx()
    ax2.plot(conc, [by[c]["p50_ms"] for c in conc], "o-", color="tab:red", label="p50 ms")
    ax2.set_ylabel("p50 latency (ms)", color="tab:red")
    fig.suptitle(f"W0 limit: BenchActor.Ping through daprd, r0 = {doc['r0_calls_per_s']:.0f}/s")
    return _save(fig, out_dir / "w0_limit.png", doc)


def _w1(doc: dict[str, Any], out_dir: Path) -> Path:
    users = list(doc["w1"])
    levels = [doc["w1"][u] for u in users]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.bar(users, [lv["turns_per_s"] for lv in levels], color="tab:blue", label="measured")
    limit = doc["turn_limit_per_s"]
    left.axhline(limit, color="black", ls="--", label=f"limit r0/4 = {limit:.0f}")
    left.axhline(0.7 * limit, color="tab:green", ls=":", label="goal 0.7 x limit")
    left.set_xlabel("concurrent users")
    left.set_ylabel("turns / s")
    left.legend(fontsize=8)
    x = range(len(users))
    for i, (key, color) in enumerate(
        (
            ("p50_ms", "tab:blue"),
            ("p95_ms", "tab:orange"),
            ("p99_ms", "tab:red"),
            ("memory_lag_p50_ms", "tab:purple"),
        )
    ):
        right.bar(
            [p + (i - 1.5) * 0.2 for p in x],
            [lv[key] for lv in levels],
            0.2,
            color=color,
            label=key.removesuffix("_ms").replace("_", " "),
        )
    right.set_xticks(list(x), users)
    right.set_xlabel("concurrent users")
    right.set_ylabel("ms")
    right.set_yscale("log")
    right.legend(fontsize=8)
    fig.suptitle(f"W1 throughput: w1_vs_limit = {doc['w1_vs_limit']}")
    return _save(fig, out_dir / "w1_throughput.png", doc)


def _w1_cpu(doc: dict[str, Any], out_dir: Path) -> Path:
    users = list(doc["w1"])
    names = [n for n in doc["w1"][users[0]]["cpu_cores"] if n != "total"]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    bottom = [0.0] * len(users)
    for name in names:
        vals = [doc["w1"][u]["cpu_cores"].get(name, 0.0) for u in users]
        ax.bar(users, vals, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    ax.axhline(doc["machine"]["cpus"] or 0, color="black", ls="--", label="cores")
    ax.set_xlabel("concurrent users")
    ax.set_ylabel("CPU cores used")
    ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("W1: CPU per process")
    return _save(fig, out_dir / "w1_cpu.png", doc)


def _w2(doc: dict[str, Any], out_dir: Path) -> Path:
    lat = doc["w2"]["latencies_ms"]
    turns = list(range(1, len(lat) + 1))
    window = max(1, min(doc["w2"]["edge_turns"], len(lat) // 5))
    rolling = [median(lat[max(0, i - window + 1) : i + 1]) for i in range(len(lat))]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    ax.scatter(turns, lat, s=4, color="tab:gray", alpha=0.5, label="turn latency")
    ax.plot(turns, rolling, color="tab:blue", label=f"rolling median ({window})")
    ax.set_xlabel("turn")
    ax.set_ylabel("ms")
    ax.set_yscale("log")
    w2 = doc["w2"]
    rss = [(i, mb) for i, mb in w2.get("app_rss_mb", []) if mb is not None]
    if rss:
        ax2 = ax.twinx()
        ax2.plot([i for i, _ in rss], [mb for _, mb in rss], color="tab:red", label="app RSS")
        ax2.set_ylabel("app RSS (MB)", color="tab:red")
        ax2.set_ylim(0, max(mb for _, mb in rss) * 1.2)
        ax2.legend(fontsize=8, loc="upper right")
    ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(
        f"W2 one user, {w2['turns']:,} turns: w2_growth = {w2['w2_growth']}, "
        f"w2_rss_growth = {w2.get('w2_rss_growth')}, Redis bytes/turn "
        f"{w2['redis_bytes_per_turn_first']} -> {w2['redis_bytes_per_turn_last']}"
    )
    return _save(fig, out_dir / "w2_long_conversation.png", doc)


def _w3(doc: dict[str, Any], out_dir: Path) -> Path:
    w3 = doc["w3"]
    lat = w3["latencies_sorted_ms"]
    stream = w3.get("stream")
    fig, axes = plt.subplots(1, 2 if stream else 1, figsize=(12 if stream else 7, 3.8))
    ax = axes[0] if stream else axes
    if stream:
        _w3_stream(stream, axes[1])
    ax.plot(range(1, len(lat) + 1), lat, ".-", color="tab:blue", label="turn latency")
    ax.axhline(w3["model_delay_s"] * 1000, color="black", ls="--", label="model delay")
    ax.axhline(1500, color="tab:green", ls=":", label="goal wall 1.5 s")
    if w3["errors"]:
        ax.text(
            0.5,
            0.5,
            f"{w3['errors']} of {w3['users']} turns failed or timed out",
            transform=ax.transAxes,
            ha="center",
            color="tab:red",
        )
    ax.set_xlabel("user (sorted by latency)")
    ax.set_ylabel("ms")
    ax.legend(fontsize=8)
    fig.suptitle(
        f"W3 slow model, {w3['users']} users at once: wall {w3['w3_wall_s']} s, "
        f"model calls {w3.get('model_calls')}, most at once {w3.get('max_parallel_model_calls')}"
    )
    return _save(fig, out_dir / "w3_slow_model.png", doc)


def _w3_stream(st: dict[str, Any], ax: Any) -> None:
    """W3's streaming level: each complete stream's time, sorted, against the model's time
    and the goal's wall time (4 s)."""
    lat = st["latencies_sorted_ms"]
    ax.plot(range(1, len(lat) + 1), lat, ".", ms=2, color="tab:purple", label="stream, to done")
    ax.axhline(st["model_s"] * 1000, color="black", ls="--", label="model time")
    ax.axhline(4000, color="tab:green", ls=":", label="goal wall 4 s")
    failed = st["users"] - st["complete"]
    if failed:
        ax.text(
            0.5,
            0.9,
            f"{failed:,} of {st['users']:,} streams not complete",
            transform=ax.transAxes,
            ha="center",
            color="tab:red",
        )
    ax.set_xlabel("user (sorted by time)")
    ax.set_ylabel("ms")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(
        f"{st['users']:,} streaming, {st['tokens']} tokens over {st['model_s']} s: "
        f"wall {st['wall_s']} s, app RSS peak {st['rss_peak_mb'].get('app')} MB",
        fontsize=9,
    )


def _w8(doc: dict[str, Any], out_dir: Path) -> Path:
    w8 = doc["w8"]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    lines = (
        ("direct", "tab:blue", f"{w8['users']} direct"),
        ("delegated", "tab:orange", f"{w8['users']} delegating"),
        ("one_session", "tab:green", "1 delegating"),
    )
    for name, color, who in lines:
        q = w8[name]["quantiles_ms"]
        label = f"{who}: {w8[name]['turns_per_s']} turns/s, {w8[name]['errors']} errors"
        ax.plot(range(len(q)), q, "-", color=color, label=label)
    ax.axhline(w8["model_delay_s"] * 1000, color="black", ls="--", label="the delegate's model")
    ax.set_xlabel("percentile of the turns")
    ax.set_ylabel("turn latency, ms")
    ax.legend(fontsize=8)
    over, alone = w8["delegated"]["overhead"], w8["one_session"]["overhead"]
    fig.suptitle(
        f"W8 a delegation adds p50 {over['p50_ms']:.0f} ms at {w8['users']} sessions, "
        f"{alone['p50_ms']:.0f} ms at 1"
    )
    return _save(fig, out_dir / "w8_delegation.png", doc)


def _w7(doc: dict[str, Any], out_dir: Path) -> Path:
    w7 = doc["w7"]
    per = w7["intervals"]
    minutes = w7["interval_s"] >= 60
    unit = "min" if minutes else "s"
    scale = 60.0 if minutes else 1.0
    t = [0.0] + [iv["t_s"] / scale for iv in per]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.plot(t[1:], [iv["turns_per_s"] for iv in per], "o-", color="tab:blue", label="turns/s")
    left.axhline(
        0.9 * per[0]["turns_per_s"],
        color="tab:green",
        ls=":",
        label="goal: >= 0.9 x first interval",
    )
    left.set_ylim(0, max(iv["turns_per_s"] for iv in per) * 1.2 or 1)
    left.set_xlabel(f"time ({unit}), end of interval")
    left.set_ylabel("turns / s")
    left.legend(fontsize=8, loc="lower left")
    cost = [iv["app_cpu_ms_per_turn"] for iv in per]
    if None not in cost:
        ax2 = left.twinx()
        ax2.plot(t[1:], cost, "s--", color="tab:gray", label="app CPU ms per turn")
        ax2.set_ylim(0, max(cost) * 1.5 or 1)
        ax2.set_ylabel("app CPU ms / turn", color="tab:gray")
        ax2.legend(fontsize=8, loc="lower right")
    for part, color in (("app", "tab:red"), ("daprd", "tab:orange"), ("redis", "tab:purple")):
        series = [w7["rss_start_mb"][part]] + [iv["rss_mb"][part] for iv in per]
        right.plot(t, series, "o-", color=color, label=part)
    app_first = per[0]["rss_mb"]["app"]
    if app_first:
        right.axhline(
            1.1 * app_first,
            color="tab:green",
            ls=":",
            label="goal: app <= 1.1 x after the first interval",
        )
    right.set_ylim(bottom=0)
    right.set_xlabel(f"time ({unit})")
    right.set_ylabel("RSS (MB)")
    right.legend(fontsize=8, loc="lower right")
    fig.suptitle(
        f"W7 soak, {w7['users']} users back to back, {w7['duration_s'] / scale:.0f} {unit}: "
        f"w7_throughput_drift = {w7['w7_throughput_drift']}, "
        f"w7_rss_growth = {w7['w7_rss_growth']}"
    )
    return _save(fig, out_dir / "w7_soak.png", doc)


def _w9(doc: dict[str, Any], out_dir: Path) -> Path:
    w9 = doc["w9"]
    per = w9["run"]["per_tenth"]
    tenths = [f"{k + 1}" for k in range(len(per))]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.bar(tenths, [t["turns_per_s"] for t in per], color="tab:blue", label="turns/s")
    left.axhline(
        0.9 * per[0]["turns_per_s"], color="tab:green", ls=":", label="goal: >= 0.9 x first"
    )
    left.set_xlabel(f"tenth of the {w9['users']:,} users (in the order they started)")
    left.set_ylabel("turns / s")
    left.legend(fontsize=8, loc="lower left")
    cost = [t.get("app_cpu_ms_per_turn") for t in per]
    if None not in cost:
        ax2 = left.twinx()
        ax2.plot(tenths, cost, "s--", color="tab:gray", label="app CPU ms per turn")
        ax2.set_ylim(0, max(cost) * 1.5 or 1)
        ax2.set_ylabel("app CPU ms / turn", color="tab:gray")
        ax2.legend(fontsize=8, loc="lower right")
    stages = (("before", "before the run"), ("after", "idle after it"), ("deleted", "deleted"))
    x = range(len(stages))
    for i, (part, color) in enumerate((("app", "tab:red"), ("daprd", "tab:orange"))):
        values = [w9[stage]["rss_mb"][part] or 0 for stage, _ in stages]
        right.bar([p + (i - 0.5) * 0.35 for p in x], values, 0.35, color=color, label=part)
    right.set_xticks(list(x), [label for _, label in stages])
    right.set_ylabel("RSS (MB)")
    right.legend(fontsize=8, loc="lower right")
    fig.suptitle(
        f"W9 {w9['users']:,} conversations of {w9['turns_per_user']} turns: "
        f"w9_throughput_drift = {w9['w9_throughput_drift']}, "
        f"w9_app_rss_ratio = {w9['w9_app_rss_ratio']}"
    )
    return _save(fig, out_dir / "w9_many.png", doc)
