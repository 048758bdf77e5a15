"""The result document: ratios against the limit, the goals, and where it is written."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path
from typing import Any

W5_FIGURES = ("w5_lost_turns", "w5_duplicated_turns", "w5_recovery_s", "w5_failover_p99_ms")
CALLS_PER_TURN = 4  # ingress -> ChatAgent, -> ResponseAgent, -> Memory (read), Memory update


def ratios(doc: dict[str, Any]) -> dict[str, Any]:
    if "w0" not in doc or "w1" not in doc:
        return {}  # a subset run (--only): no limit to compare with
    r0 = doc["r0_calls_per_s"]
    top = doc["w1"][str(max(int(u) for u in doc["w1"]))]
    completed = top["turns_per_s"] > 0
    return {
        "turn_limit_per_s": round(r0 / CALLS_PER_TURN, 1),
        "w1_vs_limit": round(top["turns_per_s"] / (r0 / CALLS_PER_TURN), 3) if r0 else None,
        # No turn completed in the window: no percentile to compare, and the goal is missed.
        "w1_p99_over_p50": round(top["p99_ms"] / top["p50_ms"], 2) if completed else None,
    }


def w3_stream_figures(w3: dict[str, Any]) -> dict[str, Any]:
    """W3's streaming level at the top of the document; only the 1,000-user level has a
    key (and a goal)."""
    stream = w3.get("stream")
    if stream is None or stream["users"] != 1000:
        return {}
    return {"w3_stream_1000_wall_s": stream["wall_s"]}


def goal(value: float | None, op: str, target: float) -> dict[str, Any]:
    met: bool | None = None
    if value is not None and not math.isnan(value):
        met = {">=": value >= target, "<=": value <= target, "==": value == target}[op]
    return {"value": value, "goal": f"{op} {target}", "met": met}


# The goals of the workloads other than W1, by the key that holds the figure.
GOALS = (
    ("w2_growth", "<=", 1.15),  # app CPU per turn, last turns / a fresh conversation's (w2.py)
    ("w3_wall_s", "<=", 1.5),
    # 1,000 users streaming at once from a 2 s model: every stream whole, within 4 s (issue 28)
    ("w3_stream_1000_wall_s", "<=", 4.0),
    ("w4_scaling", ">=", 1.3),  # on 2 cores; w4_scaling_core_per_pair projects 1 core/pair
    ("w4_scaling_quota", ">=", 1.8),  # the same CPU quota per pair in both runs (issue 28)
    ("w5_lost_turns", "<=", 0),
    ("w5_duplicated_turns", "<=", 0),
    ("w5_recovery_s", "<=", 5.0),
    # long turns survive a lost pair: all done, each tool run once, soon (issue 27)
    ("w6_failed_turns", "<=", 0),
    ("w6_tool_runs_per_turn", "==", 1.0),
    ("w6_turns_tool_not_once", "<=", 0),
    ("w6_resume_s", "<=", 10.0),
    ("w6_stream_missing_tokens", "<=", 0),
    ("w6_stream_repeated_tokens", "<=", 0),
    ("w7_rss_growth", "<=", 1.1),
    ("w7_throughput_drift", ">=", 0.9),
    # a delegation adds at most this on top of the delegate's own model call (issue 26)
    ("w8_delegation_overhead_p50_ms", "<=", 30),
    # cost as conversations grow in number (issue 28): flat turns/s, deactivation frees what
    # activation took, an idle conversation's first turn near a warm one, a cheap listing
    ("w9_throughput_drift", ">=", 0.9),
    ("w9_app_rss_ratio", "<=", 1.1),
    ("w9_daprd_rss_ratio", "<=", 1.1),
    ("w9_cold_vs_warm_p50", "<=", 2.0),
    ("w9_cold_vs_warm_p99", "<=", 2.0),
    ("w9_sessions_p99_ms", "<=", 50),
    ("w9_sessions_after_delete_p99_ms", "<=", 50),
    ("w9_index_keys_left", "<=", 0),
    # the model path (OpenAI responder, a stub answering at once) over offline (issue 28)
    ("w1_model_added_app_cpu_ms", "<=", 1.0),
)


def goals(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The goals of the workloads that ran (all of them, unless --only chose a subset)."""
    out: dict[str, dict[str, Any]] = {}
    if "w1_vs_limit" in doc:
        users = max(int(u) for u in doc["w1"])
        tail = goal(doc["w1_p99_over_p50"], "<=", 3.0)
        if doc["w1"][str(users)]["turns_per_s"] == 0:
            tail["met"] = False
        out["w1_vs_limit"] = goal(doc["w1_vs_limit"], ">=", 0.7)
        out[f"p99/p50 at {users} users"] = tail
    for key, op, target in GOALS:
        if key in doc:
            out[key] = goal(doc[key], op, target)
    if "w4_scaling_quota" in out and not doc["w4"]["quota"].get("quotas_bind"):
        out["w4_scaling_quota"]["met"] = None  # the machine held the pairs, not their quotas
    stream = doc.get("w3", {}).get("stream")
    if "w3_stream_1000_wall_s" in out and stream["complete"] < stream["users"]:
        out["w3_stream_1000_wall_s"]["met"] = False  # fast because streams failed: no pass
    if "w7" in doc and doc["w7"]["turns"] == 0:  # every turn failed: no ratio, and no pass
        out["w7_rss_growth"]["met"] = out["w7_throughput_drift"]["met"] = False
    return out


def missed(doc: dict[str, Any]) -> list[str]:
    return [name for name, g in doc["goals"].items() if g["met"] is False]


def no_nan(value: Any) -> Any:
    """NaN (a percentile of no samples) becomes null: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [no_nan(v) for v in value]
    return value


def write(doc: dict[str, Any], results_dir: Path) -> Path:
    """The run's results under its time stamp; a whole run is also ``latest.json`` (a subset,
    ``--only``, never replaces it: latest.json keeps every key of a whole run)."""
    results_dir.mkdir(parents=True, exist_ok=True)
    stamp = doc["timestamp"].replace(":", "").replace("-", "")
    subset = "-only-" + "-".join(doc["only"]) if "only" in doc else ""
    path = results_dir / f"{stamp}-{doc['profile']}{subset}.json"
    path.write_text(json.dumps(no_nan(doc), indent=2, allow_nan=False) + "\n")
    if subset:
        return path
    latest = results_dir / "latest.json"
    shutil.copyfile(path, latest)
    return latest
