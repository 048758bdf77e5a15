"""The benchmark harness itself, at a tiny size on the real stack, so `make bench` cannot rot.

No timing is asserted: only that every workload ran and the report holds what the issue asks.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bench import cgroup
from bench.w9 import FIGURES as W9_FIGURES

from devstack.settings import REPO_ROOT

pytestmark = pytest.mark.bench

PARTS = ("app", "daprd")
W1_KEYS = {"turns_per_s", "p50_ms", "p95_ms", "p99_ms", "memory_lag_p50_ms"}


def positive(value: object) -> bool:
    return isinstance(value, int | float) and not math.isnan(value) and value > 0


def run_bench(
    results: Path, charts: Path, docs: Path, extra: list[str], timeout: float
) -> subprocess.CompletedProcess[str]:
    """``python -m bench`` at the tiny size, writing into the test's folders."""
    argv = [sys.executable, "-m", "bench", "--size", "tiny", "--quiet", *extra]
    argv += ["--results-dir", str(results), "--charts-dir", str(charts), "--docs", str(docs)]
    return subprocess.run(argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)


def test_tiny_benchmark_writes_results_charts_and_table(tmp_path: Path) -> None:
    results, charts, docs = tmp_path / "results", tmp_path / "charts", tmp_path / "BENCH.md"
    done = run_bench(results, charts, docs, ["--app-profile", "always"], timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]

    doc = json.loads((results / "latest.json").read_text())
    assert len(list(results.glob("*-tiny.json"))) == 1  # the timestamped copy
    assert positive(doc["r0_calls_per_s"])
    assert set(doc["w1"]) == {"1", "2"}
    for level in doc["w1"].values():
        assert level.keys() >= W1_KEYS
        assert all(positive(level[k]) for k in W1_KEYS), level
        assert level["errors"] == 0
    assert positive(doc["w1_vs_limit"])
    assert positive(doc["w2_growth"])
    assert positive(doc["w2_rss_growth"])
    assert positive(doc["w2"]["app_rss_end_mb"])
    assert doc["w2"]["app_cpu_ms_per_turn_last"] >= 0  # a few turns may fit in one clock tick
    assert positive(doc["w2"]["redis_bytes_per_turn_first"])
    assert positive(doc["w2"]["redis_bytes_per_turn_last"])
    if "skipped" in doc["w3"]:
        assert doc["w3_wall_s"] is None
        assert doc["w3"]["skipped"].startswith("W3 skipped:")
    else:
        assert positive(doc["w3_wall_s"])
        assert doc["w3"]["errors"] == 0
        # The streaming level (5 users at the tiny size): every stream whole, then done.
        stream = doc["w3"]["stream"]
        assert stream["complete"] == stream["users"] == 5, stream
        assert stream["statuses"] == {"200": 5}
        assert not stream["error_events"]
        assert positive(stream["rss_peak_mb"]["app"])
    w8 = doc["w8"]
    assert "skipped" not in w8, w8.get("skipped")
    for phase in ("direct", "delegated", "one_session"):
        assert w8[phase]["errors"] == 0, w8[phase]
        assert positive(w8[phase]["turns_per_s"]), w8[phase]
    for phase in ("delegated", "one_session"):
        # Every delegation in the window was matched to the delegate's model call.
        over = w8[phase]["overhead"]
        assert over["delegations"] > 0, over
        assert (over["unmatched"], over["not_ok"]) == (0, 0), over
        # Publish -> reply heard holds the delegate's whole turn, model call included.
        assert over["p50_ms"] > 0, over
    for key in ("w8_turns_per_s", "w8_p50_ms", "w8_p99_ms", "w8_delegation_overhead_p50_ms"):
        assert positive(doc[key]), key
    w7 = doc["w7"]
    assert w7["errors"] == 0
    assert len(w7["intervals"]) >= 2  # the tiny size's "minute" is a second
    for interval in w7["intervals"]:
        assert positive(interval["turns_per_s"]), interval
        assert positive(interval["app_cpu_ms_per_turn"]), interval
        assert all(positive(interval["rss_mb"][p]) for p in ("app", "daprd", "redis")), interval
    assert positive(doc["w7_rss_growth"])
    assert positive(doc["w7_throughput_drift"])
    assert doc["versions"]["daprd"]
    assert doc["commit"]
    assert set(doc["goals"]) >= {
        "w1_vs_limit",
        "w2_growth",
        "w3_wall_s",
        "w7_rss_growth",
        "w7_throughput_drift",
        "w8_delegation_overhead_p50_ms",
    }
    profile = doc["profile_app"]
    assert "error" in profile or profile["samples"] > 0

    assert {p.name for p in charts.glob("*.png")} >= {
        "w0_limit.png",
        "w1_throughput.png",
        "w1_cpu.png",
        "w2_long_conversation.png",
        "w7_soak.png",
        "w8_delegation.png",
    }
    table = docs.read_text()
    assert "| w1_vs_limit |" in table
    assert "| w7_rss_growth |" in table
    assert "| w8_delegation_overhead_p50_ms |" in table
    assert "| W1 users | turns/s |" in table


def test_scale_out_and_failover_report(tmp_path: Path) -> None:
    # W4 and W5 are left out of the tiny whole run (bench/__main__.py TINY_SKIPS): here alone,
    # which is also what a subset run (--only) is checked on.
    results, charts, docs = tmp_path / "results", tmp_path / "charts", tmp_path / "BENCH.md"
    done = run_bench(results, charts, docs, ["--only", "w4,w5"], timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]

    # A subset never replaces latest.json (which keeps every key of a whole run).
    assert not (results / "latest.json").exists()
    (subset,) = results.glob("*-only-w4-w5.json")
    doc = json.loads(subset.read_text())
    assert doc["only"] == ["w4", "w5"]
    assert not {"w0", "w1", "w2", "w3", "w7", "w8", "profile_app"} & set(doc)
    assert not docs.exists()  # a subset is no run of the benchmark: no table, no charts
    assert "| w4_scaling |" in done.stdout
    assert set(doc["goals"]) == {
        "w4_scaling",
        "w4_scaling_quota",
        "w5_lost_turns",
        "w5_duplicated_turns",
        "w5_recovery_s",
    }
    for pairs, level in doc["w4"]["by_pairs"].items():
        assert level["pairs"] == int(pairs)
        assert positive(level["turns_per_s"]), level
        assert level["errors"] == 0
        apps = {name for name in level["cpu_cores"] if name.startswith("app")}
        assert len(apps) == int(pairs)  # CPU is reported for every pair's app
    assert positive(doc["w4_scaling"])
    assert positive(doc["w4"]["w4_scaling_core_per_pair"])
    # the most w4_scaling could be here: the machine's cores over what the 1-pair run used
    one = doc["w4"]["by_pairs"]["1"]["cpu_cores"]["total"]
    assert doc["w4_machine_ceiling"] == round(doc["machine"]["cpus"] / one, 3)
    check_quota_runs(doc, done.stdout)
    w5 = doc["w5"]
    assert doc["w5_lost_turns"] == 0
    assert w5["users_never_back"] == 0
    assert doc["w5_recovery_s"] is not None
    assert w5["acked"] > 0
    assert set(w5["failed_by_outcome"]) <= {"503", "504"}, w5["failed_by_outcome"]
    assert "| w4_scaling |" in done.stdout
    assert "| W5 in flight at the kill, by status |" in done.stdout


def check_quota_runs(doc: dict[str, Any], table: str) -> None:
    """W4 again with each app and daprd under a CPU quota (bench/w4_quota.py), or the reason
    it could not run here."""
    quota = doc["w4"]["quota"]
    found = cgroup.usable()
    if isinstance(found, str):
        assert quota["skipped"] == found
        assert doc["w4_scaling_quota"] is None
        assert "| W4 under CPU quotas: not run |" in table
        return
    assert positive(doc["w4_scaling_quota"])
    for pairs, level in quota["by_pairs"].items():
        names = {f"{part}{f'-{i}' if i else ''}" for i in range(int(pairs)) for part in PARTS}
        assert set(level["cpu_stat"]) == names
        for name, stat in level["cpu_stat"].items():
            # CFS counts periods only in a group with a quota and a member that ran.
            assert stat["nr_periods"] > 0, (name, stat)
        assert set(level["pair_cores"]) == {str(i) for i in range(int(pairs))}
        assert all(positive(c["cores"]) for c in level["pair_cores"].values())
        assert level["errors"] == 0
        calls = level["actor_calls"]  # read from the daprds' metrics
        assert calls["to_apps"] > 0, calls
        if pairs == "1":
            assert calls["crossed"] == 0, calls  # no other pair to send an actor call to
        assert f"| W4 quota, {pairs} pair(s): throttled periods / periods" in table
    assert "| w4_scaling_quota |" in table


def test_resume_report(tmp_path: Path) -> None:
    # W6 is left out of the tiny whole run too (a kill, the move, the reminder's period):
    # here alone. Correctness is asserted, not the time to resume (a goal, reported).
    results, charts, docs = tmp_path / "results", tmp_path / "charts", tmp_path / "BENCH.md"
    done = run_bench(results, charts, docs, ["--only", "w6"], timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]

    (subset,) = results.glob("*-only-w6.json")
    doc = json.loads(subset.read_text())
    w6 = doc["w6"]
    assert "skipped" not in w6, w6.get("skipped")
    assert set(doc["goals"]) == {
        "w6_failed_turns",
        "w6_tool_runs_per_turn",
        "w6_turns_tool_not_once",
        "w6_resume_s",
        "w6_stream_missing_tokens",
        "w6_stream_repeated_tokens",
    }
    # Turns were open when pair 1 died, and every turn ended done, its tool run once.
    assert w6["open_at_kill"] > 0
    assert doc["w6_completed_turns"] == w6["turns"] > 0
    assert (doc["w6_failed_turns"], doc["w6_turns_tool_not_once"]) == (0, 0)
    assert doc["w6_tool_runs_per_turn"] == 1.0
    assert doc["w6_resume_s"] is not None
    # The watchers read every watched turn to its done, holding the committed reply.
    assert w6["watched_turns"] > 0
    assert w6["streams_not_done"] == 0
    assert (doc["w6_stream_missing_tokens"], doc["w6_stream_repeated_tokens"]) == (0, 0)
    assert "| w6_resume_s |" in done.stdout
    assert "| W6 watched streams" in done.stdout


def test_many_conversations_report(tmp_path: Path) -> None:
    # W9 waits twice for every actor to idle out: left out of the tiny whole run, here alone.
    # What it measured is reported (goals), not asserted; that it measured it is.
    results, charts, docs = tmp_path / "results", tmp_path / "charts", tmp_path / "BENCH.md"
    done = run_bench(results, charts, docs, ["--only", "w9"], timeout=150)
    assert done.returncode == 0, done.stderr[-3000:]

    (subset,) = results.glob("*-only-w9.json")
    doc = json.loads(subset.read_text())
    w9 = doc["w9"]
    assert set(doc["goals"]) == set(W9_FIGURES)  # each figure has its goal
    assert w9["run"]["turns"] == w9["users"] * w9["turns_per_user"]
    assert w9["run"]["errors"] == 0
    assert len(w9["run"]["per_tenth"]) == 10
    for key in ("w9_throughput_drift", "w9_app_rss_ratio", "w9_daprd_rss_ratio"):
        assert positive(doc[key]), key
    assert positive(doc["w9_cold_vs_warm_p50"])
    assert positive(w9["redis"]["used_memory_bytes_per_conversation"])
    # A conversation of a few turns keeps a handful of keys: meta, a history page, Memory's
    # window, ResponseAgent's stats.
    for sampled in w9["redis"]["sampled"].values():
        assert sampled["keys"] >= 3
    # The page with everyone listed is full; after every DELETE it is empty, and so is the
    # session index but for its day keys.
    conversations = w9["users"] + w9["concurrency"] + w9["cold_conversations"]  # + warm-up
    assert w9["sessions"]["sessions_on_page"] == min(50, conversations)
    assert w9["sessions_after_delete"]["sessions_on_page"] == 0
    assert w9["deletes"]["failed"] == 0
    assert doc["w9_index_keys_left"] == 0
    assert "| w9_throughput_drift |" in done.stdout
    assert "| W9 cold / warm turn" in done.stdout


def test_model_turn_cost_report(tmp_path: Path) -> None:
    # W1-model is left out of the tiny whole run (two more stacks and the stub): here alone.
    results, charts, docs = tmp_path / "results", tmp_path / "charts", tmp_path / "BENCH.md"
    done = run_bench(results, charts, docs, ["--only", "w1model"], timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]

    (subset,) = results.glob("*-only-w1model.json")
    doc = json.loads(subset.read_text())
    w1m = doc["w1_model"]
    assert "skipped" not in w1m, w1m.get("skipped")
    assert set(doc["goals"]) == {"w1_model_added_app_cpu_ms"}
    for side in ("offline", "model"):
        assert w1m[side]["errors"] == 0, w1m[side]
        assert w1m[side]["memory_settled"], w1m[side]
        assert positive(w1m[side]["turns_per_s"]), w1m[side]
        assert positive(w1m[side]["cpu_ms_per_turn"]["app"]), w1m[side]
    # The stub's CPU is metered apart (its own process).
    assert positive(doc["w1_model_stub_cpu_ms_per_turn"])
    assert doc["w1_model_added_app_cpu_ms"] is not None
    assert "| w1_model_added_app_cpu_ms |" in done.stdout
    assert "| W1-model CPU ms per turn" in done.stdout
