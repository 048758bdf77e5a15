"""How big each workload runs: quick (`make bench`), full (`FULL=1`), tiny (the harness test)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Sizes:
    name: str
    w0_concurrency: tuple[int, ...]
    w0_warmup_s: float
    w0_duration_s: float
    w1_users: tuple[int, ...]
    w1_warmup_s: float
    w1_duration_s: float
    w2_turns: int
    w2_edge: int  # turns compared at each end of the conversation
    w3_users: int
    w3_delay_s: float
    profile_s: float  # py-spy on the app under W1 at the largest user count
    w7_users: int
    w7_duration_s: float
    w7_interval_s: float  # RSS, CPU and turns/s are reported per interval ("per minute")
    # W4 runs W1's warm-up and duration at this many users, on 1 pair and then on 2.
    w4_users: int = 64
    # W4 under quotas (bench/w4_quota.py): each app's and each daprd's CPU quota in cores, and
    # the measured window (None: W1's); the warm-up is W1's.
    w4_quota_app_cores: float = 0.4
    w4_quota_daprd_cores: float = 0.35
    w4_quota_duration_s: float | None = None
    # W5: users, when pair 1 is killed, how long the load runs on after the kill.
    w5_users: int = 64
    w5_kill_at_s: float = 4.0
    w5_after_kill_s: float = 20.0
    # W6: users on long turns (a tool step each), how many also watch each turn's stream,
    # the model's delay per request, the watched replies' delay per streamed token, when pair
    # 1 is killed, how long the load runs on after the kill.
    w6_users: int = 32
    w6_watchers: int = 8
    w6_model_delay_s: float = 0.3
    w6_token_delay_s: float = 0.05
    w6_kill_at_s: float = 5.0
    w6_after_kill_s: float = 25.0
    # W8: sessions, the delegate's model time, each phase's (direct, delegated) window, and
    # the window of the one-session reference.
    w8_users: int = 32
    w8_model_delay_s: float = 0.1
    w8_warmup_s: float = 2.0
    w8_duration_s: float = 15.0
    w8_solo_s: float = 5.0
    # W9: new users, turns each, users at a time; the actors' idle timeout, daprd's scan for
    # idle actors and the outbox watchdog (its reminder wakes a new conversation once) on its
    # stack; the deep conversations whose first turn after idling is timed, their turns;
    # GET /sessions samples. The watchdog stays shorter than the idle timeout, as deployed
    # (60 s vs 3,600 s): its reminder then fires while the conversation is still active.
    # Equal (5 s and 5 s), it raced the deactivation and woke conversations that had just
    # idled out: W9's cold turns paid that too (cold / warm p50 2.25, then 1.68 and 1.93).
    w9_users: int = 3000
    w9_turns: int = 3
    w9_concurrency: int = 64
    w9_idle_timeout_s: float = 5.0
    w9_scan_interval_s: float = 1.0
    w9_outbox_watchdog_s: float = 1.0
    w9_cold_conversations: int = 20
    w9_cold_turns: int = 120
    w9_listings: int = 50
    # W3's second level: users streaming at once (0: none), each reply's tokens over how long.
    w3_stream_users: int = 1000
    w3_stream_model_s: float = 2.0
    w3_stream_tokens: int = 20
    # W2: the last edge and a fresh conversation's first run in alternating blocks of this many.
    w2_block: int = 50
    # W1-model: users, each side's warm-up and window, and how many offline/model rounds
    # alternate (the offline side on a stack of its own, measured the same way).
    w1_model_users: int = 64
    w1_model_warmup_s: float = 1.5
    w1_model_duration_s: float = 3.5
    w1_model_rounds: int = 2


QUICK = Sizes(
    name="quick",
    w0_concurrency=(1, 8, 32, 64, 128),
    w0_warmup_s=1.0,
    w0_duration_s=4.0,
    w1_users=(1, 8, 64),
    w1_warmup_s=2.0,
    w1_duration_s=12.0,
    w2_turns=2000,
    w2_edge=300,
    w3_users=100,
    w3_delay_s=0.5,
    profile_s=10.0,
    w7_users=32,
    # 2 minutes in 40 s intervals (3 minutes before issue 28's W9, W4-quota, W1-model and
    # W3's streams joined the quick run: `make bench` stays under 10 minutes).
    w7_duration_s=120.0,
    w7_interval_s=40.0,
    w4_quota_duration_s=8.0,
)

FULL = Sizes(
    name="full",
    w0_concurrency=(1, 8, 16, 32, 64, 128, 256),
    w0_warmup_s=2.0,
    w0_duration_s=10.0,
    w1_users=(1, 8, 64),
    w1_warmup_s=5.0,
    w1_duration_s=40.0,
    w2_turns=10_000,
    w2_edge=500,
    w3_users=100,
    w3_delay_s=0.5,
    profile_s=20.0,
    w7_users=32,
    w7_duration_s=1800.0,
    w7_interval_s=60.0,
    w6_after_kill_s=60.0,
    w8_warmup_s=5.0,
    w8_duration_s=40.0,
    w8_solo_s=15.0,
    w9_users=20_000,
    w9_cold_turns=10_000,
    w1_model_warmup_s=5.0,
    w1_model_duration_s=20.0,
)

TINY = Sizes(
    name="tiny",
    w0_concurrency=(1, 4),
    w0_warmup_s=0.2,
    w0_duration_s=1.0,
    w1_users=(1, 2),
    w1_warmup_s=0.2,
    w1_duration_s=1.5,
    w2_turns=40,  # enough CPU time per end for /proc's 10 ms ticks to see (w2_growth)
    w2_edge=10,
    w3_users=5,
    w3_delay_s=0.2,
    profile_s=1.0,
    w7_users=2,
    w7_duration_s=3.0,
    w7_interval_s=1.0,
    w4_users=4,
    w5_users=4,
    w5_kill_at_s=1.0,
    w5_after_kill_s=12.0,  # placement moves the actors after ~7 s (docs/architecture.md)
    w6_users=4,
    w6_watchers=2,
    w6_kill_at_s=3.0,
    w6_after_kill_s=12.0,  # the move, then the reminder's period (turn_check_s, 5 s)
    w8_users=2,
    w8_warmup_s=0.2,
    w8_duration_s=1.5,
    w8_solo_s=1.0,
    w9_users=40,
    w9_concurrency=4,
    w9_idle_timeout_s=2.0,
    w9_outbox_watchdog_s=1.0,
    w9_cold_conversations=2,
    w9_cold_turns=5,
    w9_listings=3,
    w3_stream_users=5,
    w3_stream_model_s=0.4,
    w3_stream_tokens=4,
    w2_block=5,
    w1_model_users=2,
    w1_model_warmup_s=0.2,
    w1_model_duration_s=1.5,
    w1_model_rounds=1,
)

SIZES = {s.name: s for s in (QUICK, FULL, TINY)}
