"""What a result was measured on: the machine, the versions, the commit."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from devstack.redis import ensure_redis_server
from devstack.settings import REPO_ROOT


def _run(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=REPO_ROOT)
    except OSError:
        return ""
    return done.stdout.strip()


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next(
        (ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines() if ln.startswith("model name")),
        platform.processor() or "unknown",
    )
    mem_kb = 0
    if Path("/proc/meminfo").exists():
        first = Path("/proc/meminfo").read_text().splitlines()[0]
        mem_kb = int(first.split()[1])
    return {
        "platform": platform.platform(),
        "cpu": model,
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_kb / 2**20, 1),
        "load_avg_1m_at_start": round(os.getloadavg()[0], 2),
    }


def versions(bin_dir: Path) -> dict[str, str]:
    """Call after a stack started (the runtime is then in ``bin_dir``)."""
    daprd = bin_dir / "daprd"
    redis_line = _run([ensure_redis_server(), "--version"])
    redis = next((w.split("=", 1)[1] for w in redis_line.split() if w.startswith("v=")), "?")
    out = {
        "python": platform.python_version(),
        "daprd": _run([str(daprd), "--version"]) or "?",
        "redis": redis,
    }
    for dist in ("dapr", "fastapi", "uvicorn", "httpx", "pydantic", "openai"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = "-"
    return out


def commit() -> dict[str, Any]:
    sha = _run(["git", "rev-parse", "HEAD"])
    dirty = bool(_run(["git", "status", "--porcelain", "--untracked-files=no"]))
    return {"commit": sha or "unknown", "commit_dirty": dirty}
