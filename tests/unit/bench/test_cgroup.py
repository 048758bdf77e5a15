"""bench/cgroup.py: finding the cpu controller, the files a quota is written to (on temp dirs
laid out like cgroup v1 and v2), the reason given where no group can be made, and, where the
host lets us, a real group whose tiny quota throttles a busy process."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from bench import cgroup
from bench.cgroup import Hierarchy, cpu_groups, find_hierarchy, parse_cpu_stat, usable

V1_MOUNTS = """\
tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
cgroup /sys/fs/cgroup/cpuacct cgroup rw,relatime,cpuacct 0 0
cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
"""


@pytest.fixture
def sleeper() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def test_a_v1_cpu_hierarchy_is_found_before_a_v2_mount() -> None:
    assert find_hierarchy(V1_MOUNTS) == Hierarchy(1, Path("/sys/fs/cgroup/cpu"))
    combined = "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,cpu,cpuacct 0 0\n"
    assert find_hierarchy(combined) == Hierarchy(1, Path("/sys/fs/cgroup/cpu,cpuacct"))


def test_a_v2_mount_counts_only_with_its_cpu_controller(tmp_path: Path) -> None:
    mounts = f"cgroup2 {tmp_path} cgroup2 rw,nosuid 0 0\n"
    (tmp_path / "cgroup.controllers").write_text("cpuset io memory hugetlb pids\n")
    assert "without its cpu controller" in str(find_hierarchy(mounts))
    (tmp_path / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    assert find_hierarchy(mounts) == Hierarchy(2, tmp_path)
    assert "no cgroup hierarchy" in str(find_hierarchy("proc /proc proc rw 0 0\n"))


def test_cpu_stat_reads_throttling_in_seconds_from_v1_and_v2() -> None:
    v1 = "nr_periods 120\nnr_throttled 30\nthrottled_time 1500000000\nnr_bursts 0\n"
    assert parse_cpu_stat(v1) == {"nr_periods": 120, "nr_throttled": 30, "throttled_s": 1.5}
    v2 = "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 10\n"
    v2 += "nr_throttled 4\nthrottled_usec 250000\n"
    assert parse_cpu_stat(v2) == {
        "nr_periods": 10,
        "nr_throttled": 4,
        "throttled_s": 0.25,
        "usage_s": 2.5,
    }
    later = {"nr_periods": 130, "nr_throttled": 31, "throttled_s": 1.75}
    assert cgroup.window(parse_cpu_stat(v1), later) == {
        "nr_periods": 10,
        "nr_throttled": 1,
        "throttled_s": 0.25,
    }


def test_v1_groups_get_a_cfs_quota_and_their_members_go_back_to_the_root(
    tmp_path: Path, sleeper: subprocess.Popen[bytes]
) -> None:
    with cpu_groups(Hierarchy(1, tmp_path), {"app": 0.4, "daprd": 0.35}, "t") as groups:
        (parent,) = tmp_path.iterdir()
        assert parent.name.startswith("agent-actors-t-")
        assert (parent / "app" / "cpu.cfs_quota_us").read_text() == "40000"
        assert (parent / "app" / "cpu.cfs_period_us").read_text() == "100000"
        assert (parent / "daprd" / "cpu.cfs_quota_us").read_text() == "35000"
        assert groups["app"].add(sleeper.pid) == [sleeper.pid]
        assert groups["app"].pids() == [sleeper.pid]
    # On exit the members are handed back to the hierarchy's root group before removal.
    assert (tmp_path / "cgroup.procs").read_text() == str(sleeper.pid)


def test_v2_groups_get_cpu_max_with_the_controller_handed_down(tmp_path: Path) -> None:
    with cpu_groups(Hierarchy(2, tmp_path), {"app": 0.5}, "t"):
        (parent,) = (p for p in tmp_path.iterdir() if p.is_dir())
        assert (parent / "app" / "cpu.max").read_text() == "50000 100000"
        assert (tmp_path / "cgroup.subtree_control").read_text() == "+cpu"
        assert (parent / "cgroup.subtree_control").read_text() == "+cpu"


def test_an_unwritable_hierarchy_gives_the_reason(tmp_path: Path) -> None:
    # Root ignores permission bits: a hierarchy "mounted" on a plain file cannot take a group
    # for any user, like a read-only mount.
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("")
    mounts = tmp_path / "mounts"
    mounts.write_text(f"cgroup {blocked} cgroup rw,cpu 0 0\n")
    reason = usable(mounts)
    assert isinstance(reason, str)
    assert reason.startswith(f"cannot create a cgroup under {blocked}")
    assert "cannot read" in str(usable(tmp_path / "absent"))


def test_a_tiny_quota_throttles_a_busy_process_and_the_group_goes_away() -> None:
    found = usable()
    if isinstance(found, str):
        pytest.skip(f"no writable cgroup here: {found}")
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        with cpu_groups(found, {"busy": 0.05}, "test") as groups:
            group = groups["busy"]
            group.add(busy.pid)
            before = group.stat()
            time.sleep(0.5)  # five 100 ms periods, each allowing 5 ms of CPU
            counted = cgroup.window(before, group.stat())
            path = group.path
        assert counted["nr_throttled"] > 0, counted
        assert counted["throttled_s"] > 0, counted
        assert not path.exists()
        assert not path.parent.exists()
        assert busy.poll() is None  # handed back, not killed
    finally:
        busy.kill()
        busy.wait()
