"""W6's own arithmetic: the message the stub reads, what a watcher holds and its gap to the
committed reply, and which turns count as open at the kill."""

from __future__ import annotations

import json

from bench.results import goal
from bench.sizes import TINY
from bench.w6 import TOOL, Records, Turn, Watched, gap, message, summarize
from tools.openai_stub.server import MARKER, StubState, decide


def test_the_message_makes_the_model_call_tally_with_the_turns_key() -> None:
    text = message("b1-w6-3-7", 0.05)
    markers = {m.group(1): m.group(2) for m in MARKER.finditer(text)}
    assert markers["token_delay"] == "0.05"
    answer = decide(StubState(), text, repair=False, tool_results=0, results=[])
    assert [(n, json.loads(a)) for n, a in answer.tools] == [(TOOL, {"key": "b1-w6-3-7"})]
    assert "token_delay" not in message("k", None)


def test_a_watcher_holds_the_tokens_after_its_last_reset() -> None:
    seen = Watched(
        events=[
            ("token", {"text": "tool"}),
            ("token", {"text": " web"}),
            ("reset", {}),
            ("token", {"text": "tool web__tally"}),
            ("token", {"text": " said: run 1"}),
            ("done", {"content": "tool web__tally said: run 1"}),
        ]
    )
    assert seen.text() == "tool web__tally said: run 1"
    assert seen.had_tokens()


def test_the_gap_counts_missing_and_repeated_words() -> None:
    reply = "tool web__tally said: run 1 of k"
    assert gap(reply, reply) == (0, 0)
    assert gap("tool web__tally said: of k", reply) == (2, 0)  # "run 1" lost at a cut
    assert gap("tool web__tally said: run run 1 of k", reply) == (0, 1)  # "run" twice
    assert gap("", reply) == (7, 0)


def turn(key: str, sent: float, done: float | None, status: str = "done") -> Turn:
    return Turn("u", key, sent, seq=1, accepted=sent, done=done, status=status, reply="r")


def test_the_resume_time_waits_for_every_turn_open_at_the_kill() -> None:
    turns = [
        turn("a", 0.0, 5.0),  # over before the kill at 10: not open at it
        turn("b", 9.0, 12.5),
        turn("c", 9.5, 16.0),
        turn("d", 11.0, 12.0),  # sent after the kill
    ]
    runs = {"a": 1, "b": 1, "c": 2, "d": 1}
    records = Records(resumed={"c"}, rerun={"c"})
    doc = summarize(["u"], turns, runs, killed_at=10.0, records=records, sizes=TINY)
    assert (doc["open_at_kill"], doc["w6_resume_s"], doc["open_at_kill_resumed"]) == (2, 6.0, 1)
    assert doc["w6_completed_turns"] == 4
    assert (doc["tool_runs"], doc["w6_tool_runs_per_turn"]) == (5, 1.25)
    assert doc["tool_not_once"] == ["c"]
    assert doc["tool_not_once_running_at_kill"] == 1  # its call was running at the kill
    # A turn open at the kill that never ended: no resume time, and a failed turn.
    turns.append(turn("e", 9.9, None, status="unfinished"))
    doc = summarize(["u"], turns, runs, killed_at=10.0, records=Records(), sizes=TINY)
    assert doc["w6_resume_s"] is None
    assert (doc["w6_failed_turns"], doc["failed_by_status"]) == (1, {"unfinished": 1})


def test_a_goal_of_exactly_one() -> None:
    assert goal(1.0, "==", 1.0)["met"] is True
    assert goal(1.02, "==", 1.0)["met"] is False
    assert goal(None, "==", 1.0)["met"] is None
