"""The summary table of a run: appended to the run log (docs/bench/runs.md), and put in
place of the previous run's in docs/BENCHMARKS.md ("Latest run", between its markers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import scale_report

CPU_PARTS = ("app", "daprd", "redis", "bench client")
HEADER = "# Benchmark runs\n\nEvery run of `make bench`, newest last.\n"
LATEST_START, LATEST_END = "<!-- latest-run:start -->", "<!-- latest-run:end -->"


def _mark(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "n/a"}[met]


def _num(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def section(doc: dict[str, Any], charts: list[Path], docs_file: Path) -> str:
    m, v = doc["machine"], doc["versions"]
    dirty = " + uncommitted changes" if doc["commit_dirty"] else ""
    subset = f" · only {', '.join(doc['only'])}" if "only" in doc else ""
    title = f"{doc['timestamp']} · {doc['profile']} profile{subset} · commit `{doc['commit'][:10]}`"
    lines = [
        f"\n### {title}{dirty}\n",
        f"Machine: {m['cpu']}, {m['cpus']} CPUs, {m['memory_gib']} GiB, {m['platform']}; "
        f"load average (1 min) at start {m['load_avg_1m_at_start']}, at the end "
        f"{m.get('load_avg_1m_at_end', '?')} (shared machine: other work ran alongside). "
        f"Versions: Python {v['python']}, daprd {v['daprd']}, Redis {v['redis']}, dapr SDK "
        f"{v['dapr']}, FastAPI {v['fastapi']}, uvicorn {v['uvicorn']}, httpx {v['httpx']}. "
        f"Run took {doc['duration_s']:.0f} s.\n",
        "| measure | value | goal | |",
        "|---|---|---|---|",
    ]
    if "w0" in doc:
        w0 = doc["w0"]
        lines.append(
            f"| r0_calls_per_s (W0 no-op actor calls, best at {w0['best_concurrency']} "
            f"concurrent) | {_num(doc['r0_calls_per_s'])} (p50 {w0['p50_ms']} ms) | | |"
        )
    if "turn_limit_per_s" in doc:
        lines.append(f"| turn limit r0/4 | {_num(doc['turn_limit_per_s'])} turns/s | | |")
    for name, g in doc["goals"].items():
        lines.append(f"| {name} | {_num(g['value'], 3)} | {g['goal']} | {_mark(g['met'])} |")
    lines += _w2_rows(doc) + _w3_rows(doc) + _w8_rows(doc) + scale_report.rows(doc)
    lines += _w6_rows(doc)
    lines += _w1_model_rows(doc)
    lines += _w7_rows(doc)
    lines += _w9_rows(doc)
    lines += _w1_table(doc) + _profile(doc)
    base = docs_file.parent
    rel = [p.relative_to(base) if p.is_relative_to(base) else p for p in charts]
    if rel:
        lines += ["", "Charts: " + ", ".join(f"[{p.stem}]({p})" for p in rel)]
    lines.append("")
    return "\n".join(lines)


def _w2_rows(doc: dict[str, Any]) -> list[str]:
    if "w2" not in doc:
        return []
    w2 = doc["w2"]
    return [
        f"| W2 p50 first / last {w2['edge_turns']} turns of {w2['turns']:,} | "
        f"{w2['p50_first_ms']} / {w2['p50_last_ms']} ms | | |",
        f"| W2 Redis bytes written per turn, first / last | {w2['redis_bytes_per_turn_first']} / "
        f"{w2['redis_bytes_per_turn_last']} | | |",
        f"| W2 app CPU ms per turn, first / last {w2['edge_turns']} | "
        f"{_num(w2.get('app_cpu_ms_per_turn_first'), 2)} / "
        f"{_num(w2.get('app_cpu_ms_per_turn_last'), 2)} | | |",
        f"| W2 app CPU ms per turn, a fresh conversation (with the last, in turn) | "
        f"{_num(w2.get('app_cpu_ms_per_turn_fresh'), 2)} (pairs {w2.get('w2_growth_spread')}) "
        "| | |",
        f"| w2_rss_growth (app RSS after turn {w2['turns']:,} / after turn {w2['edge_turns']}) | "
        f"{_num(w2['w2_rss_growth'], 3)} ({_num(w2['app_rss_after_edge_mb'])} -> "
        f"{_num(w2['app_rss_end_mb'])} MB) | | |",
    ]


def _w3_rows(doc: dict[str, Any]) -> list[str]:
    if "w3" not in doc:
        return []
    w3 = doc["w3"]
    if "skipped" in w3:
        return [f"| W3 | {w3['skipped']} | | |"]
    return [
        f"| W3 {w3['users']} users, model {w3['model_delay_s']} s | wall {w3['w3_wall_s']} s, "
        f"effective concurrency {w3['effective_concurrency']}, errors {w3['errors']} | | |",
        *_w3_stream_rows(w3),
    ]


def _w3_stream_rows(w3: dict[str, Any]) -> list[str]:
    if "stream" not in w3:
        return []
    st = w3["stream"]
    cpu, rss, fds = st["cpu_s"], st["rss_peak_mb"], st["fds_peak"]
    return [
        f"| W3 {st['users']:,} users streaming, {st['tokens']} tokens over {st['model_s']} s | "
        f"wall {st['wall_s']} s, complete {st['complete']:,}, statuses {st['statuses']}, "
        f"error events {st['error_events'] or 0}, p50 {_num(st['p50_ms'])} ms | | |",
        f"| W3 streaming: CPU s app / daprd / stub / client, peak app RSS, peak fds app / daprd | "
        f"{cpu.get('app')} / {cpu.get('daprd')} / {cpu.get('openai stub')} / "
        f"{cpu.get('bench client')}, {rss.get('app')} MB (from {st['rss_before_mb'].get('app')}), "
        f"{fds.get('app')} / {fds.get('daprd')} | | |",
    ]


def _w8_rows(doc: dict[str, Any]) -> list[str]:
    if "w8" not in doc:
        return []
    w8 = doc["w8"]
    if "skipped" in w8:
        return [f"| W8 | {w8['skipped']} | | |"]
    direct, dele, alone = w8["direct"], w8["delegated"], w8["one_session"]
    over = dele["overhead"]
    model = f"model {w8['model_delay_s'] * 1000:.0f} ms"
    return [
        f"| W8 {w8['users']} sessions, direct to the delegate ({model}): turns/s, p50 / p99 | "
        f"{direct['turns_per_s']}, {direct['p50_ms']} / {direct['p99_ms']} ms, "
        f"errors {direct['errors']} | | |",
        f"| W8 {w8['users']} sessions, each turn delegating: turns/s, p50 / p99 | "
        f"{dele['turns_per_s']}, {dele['p50_ms']} / {dele['p99_ms']} ms, "
        f"errors {dele['errors']} | | |",
        f"| W8 a delegation over the delegate's model call, p50 / p99 ({over['delegations']:,} "
        f"tasks); delegated p50 - direct p50 | {over['p50_ms']} / {over['p99_ms']} ms; "
        f"{w8['w8_added_p50_ms']} ms | | |",
        f"| W8 app CPU ms per turn, direct / delegated | "
        f"{_num(direct['app_cpu_ms_per_turn'])} / {_num(dele['app_cpu_ms_per_turn'])} | | |",
        f"| W8 one session: a delegation over the model call, p50 / p99 | "
        f"{alone['overhead']['p50_ms']} / {alone['overhead']['p99_ms']} ms | | |",
    ]


def _w1_model_rows(doc: dict[str, Any]) -> list[str]:
    if "w1_model" not in doc:
        return []
    w1m = doc["w1_model"]
    if "skipped" in w1m:
        return [f"| W1-model | {w1m['skipped']} | | |"]
    off, model = w1m["offline"]["cpu_ms_per_turn"], w1m["model"]["cpu_ms_per_turn"]
    return [
        f"| W1-model {w1m['users']} users, offline / model (stub answering at once): turns/s, "
        f"errors | {w1m['w1_offline_turns_per_s']} / {w1m['w1_model_turns_per_s']}, "
        f"{w1m['offline']['errors']} / {w1m['model']['errors']} | | |",
        f"| W1-model CPU ms per turn, offline / model: app, daprd; the model stub's | "
        f"{_num(off['app'], 2)} / {_num(model['app'], 2)}, {_num(off['daprd'], 2)} / "
        f"{_num(model['daprd'], 2)}; {_num(w1m['w1_model_stub_cpu_ms_per_turn'], 2)} | | |",
    ]


def _w6_rows(doc: dict[str, Any]) -> list[str]:
    if "w6" not in doc:
        return []
    w6 = doc["w6"]
    if "skipped" in w6:
        return [f"| W6 | {w6['skipped']} | | |"]
    model = f"model {w6['model_delay_s'] * 1000:.0f} ms"
    return [
        f"| W6 {w6['users']} users on long turns with a tool step ({model}), pair 1 killed: "
        f"turns, done, not done by status | {w6['turns']:,}, {w6['w6_completed_turns']:,}, "
        f"{w6['failed_by_status']} | | |",
        f"| W6 turns open at the kill (with a resumed run); done after the kill by | "
        f"{w6['open_at_kill']} ({w6['open_at_kill_resumed']}); "
        f"{_list_s(w6['open_at_kill_done_by_s'])} | | |",
        f"| W6 tool runs / done turns (turns whose call ran again, running at the kill); POSTs "
        f"refused before their 202 | {w6['tool_runs']:,} / {w6['w6_completed_turns']:,} "
        f"({w6['w6_turns_tool_not_once']}, {w6['tool_not_once_running_at_kill']}); "
        f"{w6['refused_posts']} | | |",
        f"| W6 watched streams: turns, reconnected (after tokens; of a resumed turn), not "
        f"ended by done | {w6['watched_turns']}, {w6['reconnected_turns']} "
        f"({w6['reconnected_after_tokens']}; {w6['reconnected_resumed']}), "
        f"{w6['streams_not_done']} | | |",
        f"| W6 turn p50 / p99 before the kill, slowest turn; turns/s before / after | "
        f"{w6['before_kill_p50_ms']} / {w6['before_kill_p99_ms']} ms, {w6['slowest_turn_s']} s; "
        f"{w6['turns_per_s_before_kill']} / {w6['turns_per_s_after_resume']} | | |",
    ]


def _w9_rows(doc: dict[str, Any]) -> list[str]:
    if "w9" not in doc:
        return []
    w9 = doc["w9"]
    run, cold, redis = w9["run"], w9["cold"], w9["redis"]
    rate = ", ".join(_num(t["turns_per_s"], 0) for t in run["per_tenth"])
    cost = ", ".join(_num(t.get("app_cpu_ms_per_turn"), 1) for t in run["per_tenth"])
    before, after = w9["before"]["rss_mb"], w9["after"]["rss_mb"]
    left = w9["index_keys_left"]
    return [
        f"| W9 {w9['users']:,} users x {w9['turns_per_user']} turns, {w9['concurrency']} at a "
        f"time: turns/s, p50 / p99, errors | {run['turns_per_s']}, {run['p50_ms']} / "
        f"{run['p99_ms']} ms, {run['errors']} | | |",
        f"| W9 turns/s per tenth of the users; app CPU ms per turn | {rate}; {cost} | | |",
        f"| W9 app / daprd RSS MB before -> after idling ({w9['idle_timeout_s']:g} s timeout) | "
        f"{_num(before['app'])} -> {_num(after['app'])} / {_num(before['daprd'])} -> "
        f"{_num(after['daprd'])} | | |",
        f"| W9 Redis per conversation of {w9['turns_per_user']} turns: used_memory bytes, keys "
        f"(INFO / DBSIZE deltas) | {redis['used_memory_bytes_per_conversation']:,}, "
        f"{redis['keys_per_conversation']} | | |",
        f"| W9 cold / warm turn p50, p99 ({w9['cold_conversations']} conversations of "
        f"{w9['cold_turns']:,} turns) | {cold['cold']['p50_ms']} / {cold['warm']['p50_ms']} ms, "
        f"{cold['cold']['p99_ms']} / {cold['warm']['p99_ms']} ms | | |",
        f"| W9 GET /sessions?limit=50 p50 / p99, all listed; after every DELETE | "
        f"{w9['sessions']['p50_ms']} / {w9['sessions']['p99_ms']} ms; "
        f"{w9['sessions_after_delete']['p50_ms']} / {w9['sessions_after_delete']['p99_ms']} ms "
        f"| | |",
        f"| W9 session-index keys left after every DELETE: shards, day keys | "
        f"{left['shards']}, {left['days']} | | |",
    ]


def _list_s(values: list[float]) -> str:
    """Seconds, the last few of a sorted list (the slowest say most)."""
    shown = ", ".join(f"{v:g}" for v in values[-5:])
    return f"... {shown} s" if len(values) > 5 else f"{shown} s"


def _w7_rows(doc: dict[str, Any]) -> list[str]:
    if "w7" not in doc:
        return []
    w7 = doc["w7"]
    per = w7["intervals"]
    rate = " / ".join(f"{iv['turns_per_s']:.0f}" for iv in per)
    rss = " / ".join(_num(iv["rss_mb"]["app"]) for iv in per)
    load = " / ".join(f"{iv['load_avg_1m']:.1f}" for iv in per)
    cost = " / ".join(_num(iv["app_cpu_ms_per_turn"], 2) for iv in per)
    lines = [
        f"| W7 soak, {w7['users']} users, {w7['duration_s']:.0f} s: turns/s overall, p50 / p99 "
        f"| {w7['turns_per_s']} ({w7['turns']:,} turns, {w7['errors']} errors), "
        f"{w7['p50_ms']} / {w7['p99_ms']} ms | | |",
        f"| W7 turns/s per {w7['interval_s']:.0f} s (machine load then) | {rate} ({load}) | | |",
        f"| W7 app CPU ms per turn, per {w7['interval_s']:.0f} s | {cost} | | |",
        f"| W7 app RSS MB at start, then per {w7['interval_s']:.0f} s | "
        f"{_num(w7['rss_start_mb']['app'])}, {rss} | | |",
    ]
    for part in ("daprd", "redis"):
        first, last = per[0]["rss_mb"][part], per[-1]["rss_mb"][part]
        lines.append(
            f"| W7 {part} RSS MB after the first interval / at the end | "
            f"{_num(first)} / {_num(last)} | | |"
        )
    return lines


def _w1_table(doc: dict[str, Any]) -> list[str]:
    if "w1" not in doc:
        return []
    lines = [
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
    return lines


def _profile(doc: dict[str, Any]) -> list[str]:
    prof = doc.get("profile_app")
    if prof and "error" not in prof:
        pkg = ", ".join(f"{k} {p}%" for k, p in prof["self_by_package_pct"][:8])
        incl = ", ".join(f"`{k}` {p}%" for k, p in prof["inclusive_by_function_pct"][:12])
        return [
            "",
            f"Where the app's time goes ({prof['tool']}, W1 at {prof['users']} users, "
            f"{prof['samples']} samples): by package (leaf frame) {pkg}. "
            f"Most often on the stack: {incl}.",
        ]
    if prof:
        return ["", f"Profile: {prof['error']}"]
    return []


def append(doc: dict[str, Any], charts: list[Path], docs_file: Path) -> None:
    docs_file.parent.mkdir(parents=True, exist_ok=True)
    if not docs_file.exists():
        docs_file.write_text(HEADER)
    with docs_file.open("a") as out:
        out.write(section(doc, charts, docs_file))


def replace_latest(text: str, block: str) -> str | None:
    """``text`` with ``block`` between the latest-run markers; None when it has none."""
    if LATEST_START not in text or LATEST_END not in text:
        return None
    head, rest = text.split(LATEST_START, 1)
    _, tail = rest.split(LATEST_END, 1)
    return f"{head}{LATEST_START}{block}{LATEST_END}{tail}"


def set_latest(doc: dict[str, Any], charts: list[Path], summary_file: Path) -> bool:
    """Put this run's table in place of the previous run's in ``summary_file``; False when
    the file or its markers are missing (nothing written)."""
    if not summary_file.exists():
        return False
    text = replace_latest(summary_file.read_text(), section(doc, charts, summary_file))
    if text is None:
        return False
    summary_file.write_text(text)
    return True
