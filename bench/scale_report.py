"""The report of W4 (scale-out) and W5 (failover): table rows and a chart each."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

Save = Callable[[Any, Path, dict[str, Any]], Path]


def _cores(cpu: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in cpu.items() if k != "total")


def rows(doc: dict[str, Any]) -> list[str]:
    lines = []
    if "w4" in doc:
        w4 = doc["w4"]
        for pairs, lv in w4["by_pairs"].items():
            lines.append(
                f"| W4 {lv['users']} users on {pairs} pair(s): turns/s, p50 / p99, errors | "
                f"{lv['turns_per_s']}, {lv['p50_ms']} / {lv['p99_ms']} ms, {lv['errors']} | | |"
            )
            lines.append(
                f"| W4 {pairs} pair(s): CPU cores per process (pair CPU ms per turn) | "
                f"{_cores(lv['cpu_cores'])} ({lv['pair_cpu_ms_per_turn']}) | | |"
            )
        projected = w4["w4_scaling_core_per_pair"]
        lines.append(f"| W4 projected scaling with one core per pair | {projected} | | |")
        lines.append(
            "| W4 ceiling on this machine (its cores / the cores the 1-pair run used) | "
            f"{w4.get('w4_machine_ceiling')} | | |"
        )
        lines += quota_rows(w4.get("quota"))
    if "w5" in doc:
        w5 = doc["w5"]
        lines += [
            f"| W5 {w5['users']} users through pair 0, pair 1 killed: turns, acknowledged, "
            f"failed by status | {w5['turns']:,}, {w5['acked']:,}, {w5['failed_by_outcome']} | | |",
            f"| W5 p99 / p50 in the failover window, slowest attempt | "
            f"{w5['w5_failover_p99_ms']} / {w5['failover_window_p50_ms']} ms, "
            f"{w5['slowest_attempt_s']} s | | |",
            f"| W5 in flight at the kill, by status | {w5['in_flight_at_kill']} | | |",
            f"| W5 turns/s before the kill / after recovery | {w5['turns_per_s_before_kill']} / "
            f"{w5['turns_per_s_after_recovery']} | | |",
        ]
    return lines


def quota_rows(quota: dict[str, Any] | None) -> list[str]:
    """W4 under equal CPU quotas per pair (bench/w4_quota.py), or why it did not run."""
    if quota is None:
        return []
    if "skipped" in quota:
        return [f"| W4 under CPU quotas: not run | {quota['skipped']} | | |"]
    cores = quota["quota_cores"]
    lines = [
        f"| W4 quotas ({quota['hierarchy']}): cores per app / per daprd | "
        f"{cores['app']} / {cores['daprd']} | | |",
        f"| W4 quota: both runs held by their quotas (else the machine held them) | "
        f"{'yes' if quota['quotas_bind'] else 'no'} | | |",
    ]
    for pairs, lv in quota["by_pairs"].items():
        calls = lv["actor_calls"]
        used = ", ".join(
            f"pair {p} {c['cores']:.2f} ({c['of_quota']:.0%})" for p, c in lv["pair_cores"].items()
        )
        throttled = ", ".join(
            f"{n} {st['nr_throttled']}/{st['nr_periods']} {st['throttled_s']:.1f} s"
            for n, st in lv["cpu_stat"].items()
        )
        lines += [
            f"| W4 quota, {lv['users']} users on {pairs} pair(s): turns/s, p50 / p99, errors | "
            f"{lv['turns_per_s']}, {lv['p50_ms']} / {lv['p99_ms']} ms, {lv['errors']} | | |",
            f"| W4 quota, {pairs} pair(s): cores used per pair (of its quota); quotas bind | "
            f"{used}; {'yes' if lv['quotas_bind'] else 'no'} | | |",
            f"| W4 quota, {pairs} pair(s): throttled periods / periods, throttled time | "
            f"{throttled} | | |",
            f"| W4 quota, {pairs} pair(s): machine busy, of it other work (cores) | "
            f"{lv['machine_busy_cores']}, {lv['other_work_cores']} | | |",
            f"| W4 quota, {pairs} pair(s): actor calls to the apps, of them crossed to another "
            f"pair's daprd | {calls['to_apps']:,}, {calls['crossed']:,} "
            f"({calls['crossing_share']}) | | |",
        ]
    return lines


def draw(doc: dict[str, Any], out_dir: Path, save: Save) -> list[Path]:
    """``save(fig, path, doc)``: charts.py's, so every chart has the same footer."""
    paths = []
    if "w4" in doc:
        paths.append(_w4(doc, out_dir, save))
        if "by_pairs" in doc["w4"].get("quota", {}):
            paths.append(_w4_quota(doc, out_dir, save))
    if "w5" in doc:
        paths.append(_w5(doc, out_dir, save))
    return paths


def _w4(doc: dict[str, Any], out_dir: Path, save: Save) -> Path:
    w4 = doc["w4"]
    by = w4["by_pairs"]
    labels = [f"{p} pair{'s' if p != '1' else ''}" for p in by]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.bar(labels, [lv["turns_per_s"] for lv in by.values()], color="tab:blue")
    base = by["1"]["turns_per_s"]
    left.axhline(1.3 * base, color="tab:green", ls=":", label="goal 1.3 x 1 pair")
    left.set_ylabel(f"turns / s ({w4['users']} users)")
    left.legend(fontsize=8)
    names = sorted({n for lv in by.values() for n in lv["cpu_cores"] if n != "total"})
    bottom = [0.0] * len(by)
    for name in names:
        vals = [lv["cpu_cores"].get(name, 0.0) for lv in by.values()]
        right.bar(labels, vals, bottom=bottom, label=name)
        bottom = [b + v for b, v in zip(bottom, vals, strict=True)]
    right.axhline(doc["machine"]["cpus"] or 0, color="black", ls="--", label="cores")
    right.set_ylabel("CPU cores used")
    right.legend(fontsize=7, loc="upper left")
    fig.suptitle(
        f"W4 scale-out: w4_scaling = {w4['w4_scaling']} "
        f"(projected with a core per pair: {w4['w4_scaling_core_per_pair']}; "
        f"ceiling here: {w4.get('w4_machine_ceiling')})"
    )
    return save(fig, out_dir / "w4_scale_out.png", doc)


def _w4_quota(doc: dict[str, Any], out_dir: Path, save: Save) -> Path:
    """Turns/s with 1 and 2 pairs under the same quotas, and each pair's use of its quota."""
    quota = doc["w4"]["quota"]
    by = quota["by_pairs"]
    labels = [f"{p} pair{'s' if p != '1' else ''}" for p in by]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    left.bar(labels, [lv["turns_per_s"] for lv in by.values()], color="tab:blue")
    left.axhline(1.8 * by["1"]["turns_per_s"], color="tab:green", ls=":", label="goal 1.8 x 1 pair")
    left.set_ylabel(f"turns / s ({doc['w4']['users']} users)")
    left.legend(fontsize=8)
    per_pair = sum(quota["quota_cores"].values())
    bars, heights, colors = [], [], []
    for pairs, lv in by.items():
        for p, c in lv["pair_cores"].items():
            bars.append(f"{pairs}p: pair {p}")
            heights.append(c["cores"])
            colors.append("tab:orange" if lv["quotas_bind"] else "tab:gray")
    right.bar(bars, heights, color=colors)
    right.axhline(per_pair, color="black", ls="--", label=f"quota per pair, {per_pair} cores")
    right.set_ylabel("app + daprd cores (gray: under 80 % of quota)")
    right.legend(fontsize=8)
    fig.suptitle(
        f"W4 under equal CPU quotas per pair: w4_scaling_quota = {quota['w4_scaling_quota']}"
    )
    return save(fig, out_dir / "w4_quota.png", doc)


def _w5(doc: dict[str, Any], out_dir: Path, save: Save) -> Path:
    w5 = doc["w5"]
    back = w5["users_back_by_s"]
    fig, ax = plt.subplots(figsize=(9, 3.8))
    ax.plot([0.0, *back], range(len(back) + 1), drawstyle="steps-post", color="tab:blue")
    ax.axvline(5.0, color="tab:green", ls=":", label="goal 5 s")
    ax.set_xlabel("seconds after kill -9 of pair 1")
    ax.set_ylabel("users whose turns succeed again")
    ax.set_ylim(0, w5["users"] + 1)
    ax.legend(fontsize=8, loc="lower right")
    fig.suptitle(
        f"W5 failover, {w5['users']} users: w5_recovery_s = {w5['w5_recovery_s']}, "
        f"lost {w5['w5_lost_turns']}, twice {w5['w5_duplicated_turns']}, "
        f"p99 in window {w5['w5_failover_p99_ms']:.0f} ms"
    )
    return save(fig, out_dir / "w5_failover.png", doc)
