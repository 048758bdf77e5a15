"""`make bench-tracing` at a tiny size on real stacks, so it cannot rot: both stacks ran every
W1 level, the one with tracing had its Jaeger, and the report holds the ratios. No timing is
asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from devstack.settings import REPO_ROOT


def test_tracing_cost_runs_w1_with_tracing_off_and_on(tmp_path: Path) -> None:
    argv = [
        sys.executable,
        *("-m", "bench.tracing_cost", "--size", "tiny", "--quiet"),
        *("--results-dir", str(tmp_path)),
    ]
    proc = subprocess.run(
        argv, cwd=REPO_ROOT, capture_output=True, text=True, timeout=240, check=False
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    (written,) = tmp_path.glob("tracing-*.json")
    levels = json.loads(written.read_text())["w1"]
    assert list(levels) == ["1", "2"]  # the tiny profile's user counts
    for level in levels.values():
        for mode in ("off", "on"):
            assert level[mode]["turns_per_s"] > 0
            assert level[mode]["errors"] == 0
        assert "jaeger" in level["on"]["cpu_cores"]
        assert "jaeger" not in level["off"]["cpu_cores"]
        assert level["ratio_on_off"]["turns_per_s"] > 0
    assert "| users | turns/s off / on | on/off |" in proc.stdout
