"""The workflow probe's own arithmetic: a window's cost per turn with the idle rate taken off,
and the loop-lag meter's summary."""

from __future__ import annotations

from typing import Any

from bench.workflow_app import LoopLag
from bench.workflow_probe import Meters, per_turn


def snap(t: float, cpu: float, cmds: int, wrote: int, puts: float) -> dict[str, Any]:
    names = ("app", "daprd", "redis", "scheduler", "placement", "stub", "client")
    return {
        "t": t,
        "cpu": dict.fromkeys(names, cpu),
        "redis_cmds": cmds,
        "redis_in": cmds * 10,
        "by_cmd": {"hset": cmds},
        "sched_wchar": wrote,
        "etcd": {"etcd_mvcc_put_total": puts},
    }


def test_a_window_costs_what_it_added_over_its_idle_rate_per_turn() -> None:
    idle = Meters.rates(snap(0, 0.0, 0, 0, 0), snap(10, 0.1, 20, 1000, 0))
    # 2 s of work for 4 turns: 1.2 CPU-s per process, 2 s of idle polling in it.
    got = per_turn(snap(100, 1.0, 100, 5000, 3), snap(102, 2.2, 148, 6200, 11), idle, 4)
    # (1.2 - 0.01 * 2) / 4 s = 295 ms per turn per process
    assert got["cpu_ms"]["app"] == 295.0
    assert "client" not in got["cpu_ms"]
    assert got["cpu_ms_stack"] == 295.0 * 5  # app, daprd, redis, scheduler, placement
    assert got["redis_cmds"] == (48 - 2 * 2) / 4
    assert got["redis_by_cmd"] == {"hset": 11.0}
    assert got["sched_write_bytes"] == (1200 - 100 * 2) / 4
    assert got["etcd_ops"] == {"put": 2.0}
    # Less than idle is nothing, never a negative cost.
    quiet = per_turn(snap(0, 0.0, 0, 0, 0), snap(2, 0.0, 0, 0, 0), idle, 1)
    assert quiet["redis_cmds"] == 0.0


def test_the_loop_lag_summary_is_of_the_samples_since_the_last_one() -> None:
    lag = LoopLag()
    assert lag.take()["ticks"] == 0
    lag.samples = [0.300, 0.060] + [0.020] * 9 + [0.001] * 989
    got = lag.take()
    assert got == {"ticks": 1000, "over_50ms": 2, "max_ms": 300.0, "p99_ms": 20.0, "p50_ms": 1.0}
    assert lag.take()["ticks"] == 0
