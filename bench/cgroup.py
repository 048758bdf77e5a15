"""CPU quotas for processes: a Linux cgroup each group, on the cpu controller of cgroup v1
(``cpu.cfs_quota_us``) or of cgroup v2 (``cpu.max``), whichever the host mounts.

W4 gives each app and each daprd a quota of its own, so two pairs bring twice the CPU of one
pair, as a second machine would (bench/w4.py). Every group lives under one parent named for
the run, and ``cpu_groups`` removes them all on exit, failure included: processes still in a
group go back to the hierarchy's root group first (a cgroup with members cannot be removed).

Writing here needs root and a writable hierarchy with a cpu controller; where that is missing
``usable()`` returns the reason instead, and W4 reports it and runs without quotas.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PERIOD_US = 100_000  # the kernel's default CFS period: a quota of 0.4 core is 40 ms per 100 ms
MOUNTS = Path("/proc/self/mounts")


class CgroupError(Exception):
    """No group could be made or filled: the message is the reason W4 reports."""


@dataclass(frozen=True)
class Hierarchy:
    version: int  # 1 or 2
    root: Path  # where the hierarchy with the cpu controller is mounted


def find_hierarchy(mounts: str) -> Hierarchy | str:
    """The cpu controller's hierarchy from /proc/self/mounts text, or why there is none.
    A v1 ``cpu`` hierarchy comes first: where both exist (a hybrid host), the cpu controller
    can be bound to only one of them, and on a hybrid host that is v1."""
    v2: list[Path] = []
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        where, fstype, options = Path(fields[1]), fields[2], fields[3].split(",")
        if fstype == "cgroup" and "cpu" in options:
            return Hierarchy(1, where)
        if fstype == "cgroup2":
            v2.append(where)
    for where in v2:
        with suppress(OSError):
            if "cpu" in (where / "cgroup.controllers").read_text().split():
                return Hierarchy(2, where)
    if v2:
        return "cgroup v2 is mounted without its cpu controller, and no v1 cpu hierarchy"
    return "no cgroup hierarchy with a cpu controller is mounted"


def usable(mounts: Path = MOUNTS) -> Hierarchy | str:
    """The hierarchy W4 can use, or why not: found, and a probe group made, given a quota
    and removed (the write is what needs root and a writable mount)."""
    try:
        found = find_hierarchy(mounts.read_text())
    except OSError as exc:
        return f"cannot read {mounts}: {exc}"
    if isinstance(found, str):
        return found
    try:
        with cpu_groups(found, {"probe": 0.1}, "probe"):
            pass
    except CgroupError as exc:
        return str(exc)
    return found


def parse_cpu_stat(text: str) -> dict[str, float]:
    """cpu.stat as numbers, the throttled time in seconds under one name for v1 (ns) and v2
    (us); v2's ``usage_usec`` becomes ``usage_s`` (v1 keeps usage in the cpuacct controller)."""
    raw = {k: int(v) for k, v in (line.split() for line in text.splitlines() if line.strip())}
    out: dict[str, float] = {
        "nr_periods": raw.get("nr_periods", 0),
        "nr_throttled": raw.get("nr_throttled", 0),
    }
    if "throttled_time" in raw:
        out["throttled_s"] = raw["throttled_time"] / 1e9
    elif "throttled_usec" in raw:
        out["throttled_s"] = raw["throttled_usec"] / 1e6
    if "usage_usec" in raw:
        out["usage_s"] = raw["usage_usec"] / 1e6
    return out


def descendants(pid: int, proc: Path = Path("/proc")) -> list[int]:
    """``pid`` and every process below it (the app's children, should it fork any)."""
    children: dict[int, list[int]] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError, IndexError, ValueError):
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        p = todo.pop()
        found.append(p)
        todo += children.get(p, [])
    return found


@dataclass(frozen=True)
class CpuGroup:
    path: Path
    version: int
    cores: float

    def set_quota(self) -> None:
        quota = max(1000, round(self.cores * PERIOD_US))  # the kernel's floor is 1 ms
        if self.version == 1:
            (self.path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (self.path / "cpu.cfs_quota_us").write_text(str(quota))
        else:
            (self.path / "cpu.max").write_text(f"{quota} {PERIOD_US}")

    def add(self, pid: int) -> list[int]:
        """Move ``pid`` and its descendants (each with all its threads: cgroup.procs moves
        a whole process); the pids moved."""
        moved = descendants(pid)
        try:
            for p in moved:
                (self.path / "cgroup.procs").write_text(str(p))
        except OSError as exc:
            raise CgroupError(f"cannot move pid {pid} into {self.path}: {exc}") from exc
        return moved

    def pids(self) -> list[int]:
        with suppress(OSError):
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        return []

    def stat(self) -> dict[str, float]:
        return parse_cpu_stat((self.path / "cpu.stat").read_text())


def window(before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """What cpu.stat counted between two reads."""
    return {k: round(after[k] - before.get(k, 0), 3) for k in after}


@contextmanager
def cpu_groups(
    hierarchy: Hierarchy, quotas: Mapping[str, float], label: str
) -> Iterator[dict[str, CpuGroup]]:
    """A group per name with its quota in cores, under a parent unique to this run; all
    removed on exit. Setup failures raise ``CgroupError`` after undoing what was made."""
    parent = hierarchy.root / f"agent-actors-{label}-{os.getpid()}-{secrets.token_hex(3)}"
    groups = {
        name: CpuGroup(parent / name, hierarchy.version, cores) for name, cores in quotas.items()
    }
    try:
        parent.mkdir()
    except OSError as exc:
        raise CgroupError(f"cannot create a cgroup under {hierarchy.root}: {exc}") from exc
    try:
        try:
            if hierarchy.version == 2:  # v2 hands a controller down only where asked to
                for where in (hierarchy.root, parent):
                    (where / "cgroup.subtree_control").write_text("+cpu")
            for group in groups.values():
                group.path.mkdir()
                group.set_quota()
        except OSError as exc:
            raise CgroupError(f"cannot set a CPU quota under {hierarchy.root}: {exc}") from exc
        yield groups
    finally:
        _remove(hierarchy, parent, groups.values())


def _remove(hierarchy: Hierarchy, parent: Path, groups: Iterable[CpuGroup]) -> None:
    for group in groups:
        for pid in group.pids():
            with suppress(OSError):  # gone already
                (hierarchy.root / "cgroup.procs").write_text(str(pid))
        _rmdir(group.path)
    _rmdir(parent)


def _rmdir(path: Path) -> None:
    if not path.exists():
        return
    try:
        path.rmdir()
    except OSError as exc:
        log.warning("cannot remove cgroup %s: %s", path, exc)
