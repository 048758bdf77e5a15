from __future__ import annotations

from datetime import UTC, datetime

from agent_actors.actors.memory_agent import apply_event
from agent_actors.actors.state import MemoryState
from agent_actors.events.schemas import ConversationUpdated
from agent_actors.settings import LimitSettings


def ev(seq: int) -> ConversationUpdated:
    return ConversationUpdated.model_validate(
        {
            "user_id": "u",
            "seq": seq,
            "input": {"role": "user", "content": f"q{seq}"},
            "output": {"role": "assistant", "content": f"a{seq}"},
            "timestamp": datetime.now(UTC),
        }
    )


def contents(state: MemoryState) -> list[str]:
    return [m.content for m in state.window]


def test_in_order_events_fill_a_bounded_window() -> None:
    state, limits = MemoryState(), LimitSettings(memory_window=3)
    for seq in (1, 2, 3):
        assert apply_event(state, ev(seq), limits) == {"status": "applied", "applied": [seq]}
    assert contents(state) == ["a2", "q3", "a3"]
    assert state.last_seq == 3


def test_duplicates_change_nothing() -> None:
    state, limits = MemoryState(), LimitSettings()
    apply_event(state, ev(1), limits)
    before = state.model_copy(deep=True)
    assert apply_event(state, ev(1), limits)["status"] == "duplicate"
    assert state == before


def test_out_of_order_events_wait_for_the_gap_then_apply_in_order() -> None:
    state, limits = MemoryState(), LimitSettings(memory_window=10)
    assert apply_event(state, ev(3), limits)["status"] == "buffered"
    assert apply_event(state, ev(2), limits)["status"] == "buffered"
    assert apply_event(state, ev(3), limits)["status"] == "duplicate"
    assert apply_event(state, ev(1), limits) == {"status": "applied", "applied": [1, 2, 3]}
    assert contents(state) == ["q1", "a1", "q2", "a2", "q3", "a3"]
    assert state.pending == {}


def test_a_seq_that_never_comes_is_skipped_once_the_buffer_overflows() -> None:
    state, limits = MemoryState(), LimitSettings(reorder_buffer=2, memory_window=2)
    apply_event(state, ev(2), limits)
    apply_event(state, ev(3), limits)
    outcome = apply_event(state, ev(4), limits)
    assert outcome == {"status": "applied", "applied": [2, 3, 4]}
    assert state.last_seq == 4
    assert contents(state) == ["q4", "a4"]
