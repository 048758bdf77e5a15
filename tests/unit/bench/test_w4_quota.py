"""W4 under quotas: each pair's cores against its quota, and the goal read only where the
quotas, not the machine, held the pairs."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from bench.results import goals
from bench.w4_quota import busy_seconds, pair_cores


def test_pair_cores_add_each_pairs_app_and_daprd() -> None:
    cpu = {"redis": 0.1, "app": 0.4, "daprd": 0.3, "app-1": 0.2, "daprd-1": 0.1, "total": 1.1}
    assert pair_cores(cpu, 0.75) == {
        "0": {"cores": 0.7, "of_quota": 0.93},
        "1": {"cores": 0.3, "of_quota": 0.4},
    }


def doc(value: float, bind: bool) -> dict[str, Any]:
    return {"w4_scaling_quota": value, "w4": {"quota": {"quotas_bind": bind}}}


def test_the_quota_goal_counts_only_when_the_quotas_bind() -> None:
    assert goals(doc(1.4, True))["w4_scaling_quota"] == {
        "value": 1.4,
        "goal": ">= 1.8",
        "met": False,
    }
    assert goals(doc(1.9, True))["w4_scaling_quota"]["met"] is True
    assert goals(doc(2.5, False))["w4_scaling_quota"]["met"] is None
    skipped = {"w4_scaling_quota": None, "w4": {"quota": {"skipped": "no cpu controller"}}}
    assert goals(skipped)["w4_scaling_quota"]["met"] is None


def test_busy_seconds_leave_out_idle_and_iowait(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal guest guest_nice (clock ticks)
    stat.write_text("cpu  100 10 50 1000 40 5 5 0 0 0\ncpu0 50 5 25 500 20 2 3 0 0 0\n")
    assert round(busy_seconds(stat) * os.sysconf("SC_CLK_TCK")) == 170
