"""`make bench-tracing` and `make bench-index` at a tiny size on real stacks, so they cannot
rot: both stacks ran every W1 level, the one with tracing had its Jaeger, the one without the
session index wrote none, and the report holds the ratios. No timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devstack.settings import REPO_ROOT

pytestmark = pytest.mark.bench


def compare(feature: str, results: Path) -> tuple[dict[str, Any], str]:
    argv = [
        sys.executable,
        *("-m", "bench.feature_cost", "--feature", feature, "--size", "tiny", "--quiet"),
        *("--results-dir", str(results)),
    ]
    proc = subprocess.run(
        argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (written,) = results.glob(f"{feature}-*.json")
    levels: dict[str, Any] = json.loads(written.read_text())["w1"]
    assert list(levels) == ["1", "2"]  # the tiny profile's user counts
    for level in levels.values():
        for mode in ("off", "on"):
            assert level[mode]["turns_per_s"] > 0
            assert level[mode]["errors"] == 0
        assert level["ratio_on_off"]["turns_per_s"] > 0
    return levels, proc.stdout


def test_tracing_cost_runs_w1_with_tracing_off_and_on(tmp_path: Path) -> None:
    levels, stdout = compare("tracing", tmp_path)
    for level in levels.values():
        assert "jaeger" in level["on"]["cpu_cores"]
        assert "jaeger" not in level["off"]["cpu_cores"]
    assert "| users | turns/s off / on | on/off |" in stdout


def test_session_index_cost_runs_w1_with_the_index_off_and_on(tmp_path: Path) -> None:
    compare("session-index", tmp_path)
    (written,) = tmp_path.glob("session-index-*.json")
    keys = json.loads(written.read_text())["index_keys"]
    assert keys["off"] == 0
    assert keys["on"] > 0
