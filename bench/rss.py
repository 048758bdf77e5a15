"""Resident memory of the stack's processes, from ``/proc/<pid>/status`` (VmRSS).

RSS is what the kernel holds for a process: Python's allocator seldom gives memory back, so a
flat RSS over a long run means nothing accumulates, and a rising one means something does.
"""

from __future__ import annotations

from pathlib import Path

STACK_PARTS = ("app", "daprd", "redis")


def rss_mb(pid: int) -> float | None:
    """VmRSS of ``pid`` in MB (10^6 bytes); None when the process is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) * 1024 / 1e6, 1)  # the kernel says kB (KiB)
    return None


def rss_of(pids: dict[str, int], parts: tuple[str, ...] = STACK_PARTS) -> dict[str, float | None]:
    return {name: rss_mb(pids[name]) if name in pids else None for name in parts}


def ratio(after: float | None, before: float | None) -> float | None:
    return round(after / before, 3) if after and before else None
