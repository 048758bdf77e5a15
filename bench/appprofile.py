"""Where the app's time goes under W1: py-spy samples the app process while the largest W1
level runs again (not during the measured runs: sampling costs CPU on a 2-core machine).

py-spy reads the process from outside (ptrace; we run as root), with ``--nonblocking`` so the
app is not paused per sample. The collapsed stacks are kept next to the results and summarised:
each sample's leaf frame by package ("self"), and the functions most often on the stack
("inclusive").
"""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from bench.display import Display
from bench.sizes import Sizes
from bench.w1 import run_level
from devstack.private import PrivateStack

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::\d+)?\)$")
# Leaf frames by what they are doing, first match wins (paths as py-spy prints them).
CATEGORIES = (
    ("logging", ("logging/",)),
    ("json", ("json/",)),
    ("pydantic", ("pydantic",)),
    ("httpx/httpcore (calls to daprd)", ("httpx/", "httpcore/", "h11/_c", "anyio/")),
    ("uvicorn/h11 (HTTP server)", ("uvicorn/", "h11/")),
    ("starlette/fastapi", ("starlette/", "fastapi/")),
    ("dapr SDK", ("dapr/",)),
    ("agent_actors", ("agent_actors/",)),
    ("asyncio/selectors", ("asyncio/", "selectors.py", "socket.py", "ssl.py")),
)


# Frames under which every sample sits (the process's entry, the event loop's machinery):
# on the stack 100% of the time, they say nothing about where the time goes.
SCAFFOLD = (
    "runpy",
    "click/",
    "uvicorn/main.py",
    "uvicorn/server.py",
    "uvicorn/_compat.py",
    "asyncio/runners.py",
    "asyncio/base_events.py",
    "asyncio/events.py",
    "uvicorn/__main__.py",
)


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def category(file: str) -> str:
    return next((name for name, marks in CATEGORIES if any(m in file for m in marks)), "other")


def parse_frame(frame: str) -> tuple[str, str]:
    match = FRAME.match(frame.strip())
    return (match["func"], match["file"]) if match else (frame.strip(), "")


def summarise(collapsed: str, top: int = 15) -> dict[str, Any]:
    self_cat: Counter[str] = Counter()
    self_fn: Counter[str] = Counter()
    incl_fn: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [parse_frame(f) for f in stack.split(";")]
        frames = [(fn, file) for fn, file in frames if file]  # drop process/thread labels
        if not frames:
            continue
        total += count
        leaf_fn, leaf_file = frames[-1]
        self_cat[category(leaf_file)] += count
        self_fn[f"{leaf_fn} ({short(leaf_file)})"] += count
        for key in {f"{fn} ({short(f)})" for fn, f in frames if not scaffold(f)}:
            incl_fn[key] += count

    def pct(counter: Counter[str]) -> list[list[Any]]:
        if not total:
            return []
        return [[k, round(100 * v / total, 1)] for k, v in counter.most_common(top)]

    return {
        "samples": total,
        "self_by_package_pct": pct(self_cat),
        "self_by_function_pct": pct(self_fn),
        "inclusive_by_function_pct": pct(incl_fn),
    }


def scaffold(file: str) -> bool:
    return any(mark in file for mark in SCAFFOLD)


def short(file: str) -> str:
    for anchor in ("site-packages/", "lib/python3", "src/"):
        if anchor in file:
            return file.split(anchor, 1)[1].lstrip("0123456789./")
    return file


async def profile_app(
    stack: PrivateStack, sizes: Sizes, display: Display, tag: str, out_dir: Path
) -> dict[str, Any]:
    binary = py_spy()
    if binary is None:
        return {"error": "py-spy is not installed (uv sync --group bench)"}
    users = max(sizes.w1_users)
    out = out_dir / "app-profile.collapsed.txt"
    out.parent.mkdir(parents=True, exist_ok=True)
    seconds = max(1, round(sizes.profile_s))
    spy = await asyncio.create_subprocess_exec(
        binary,
        "record",
        "--pid",
        str(stack.pids()["app"]),
        "--duration",
        str(seconds),
        "--rate",
        "100",
        "--nonblocking",
        "--format",
        "raw",
        "--output",
        str(out),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    level = await run_level(
        stack,
        users,
        sizes,
        display,
        f"{tag}-prof",
        warmup_s=0.5,
        duration_s=seconds + 1.0,
        probe_memory=False,
    )
    spy_out, _ = await spy.communicate()
    if spy.returncode != 0 or not out.exists():
        tail = spy_out.decode(errors="replace").strip()[-300:]
        return {"error": f"py-spy failed (code {spy.returncode}): {tail}"}
    return {
        "tool": "py-spy record --nonblocking --rate 100 (app process)",
        "users": users,
        "seconds": seconds,
        "collapsed_stacks": str(out),
        "turns_per_s_while_sampled": level["turns_per_s"],
        "cpu_cores": level["cpu_cores"],
        **summarise(out.read_text()),
    }
