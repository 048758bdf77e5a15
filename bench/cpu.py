"""CPU seconds each process of the stack (and the load generator) spent during a window.

On a 2-core machine the load generator, the app, daprd and Redis share the cores: the split
says whether a workload is bound by CPU and by whose.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of ``pid`` (its threads included), from /proc; 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


class CpuMeter:
    """``start()`` then ``stop()``: cores used per process over the window (1.0 = one core)."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = {**pids, "bench client": os.getpid()}
        self._t0 = 0.0
        self._before: dict[str, float] = {}

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._before = {name: cpu_seconds(pid) for name, pid in self._pids.items()}

    def stop(self) -> dict[str, float]:
        wall = time.perf_counter() - self._t0
        used = {
            name: (cpu_seconds(pid) - self._before[name]) / wall for name, pid in self._pids.items()
        }
        used["total"] = sum(used.values())
        return {name: round(cores, 2) for name, cores in used.items()}
