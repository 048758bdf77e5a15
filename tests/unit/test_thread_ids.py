"""A session's threads: ids that split back, and that no client can send as a user id."""

import pytest

from agent_actors.errors import InvalidUserId
from agent_actors.events.conversation_updated import parse_event
from agent_actors.models import check_thread_id, check_user_id, split_thread, thread_id


def test_the_default_agents_thread_is_the_session() -> None:
    assert thread_id("u1", None, "assistant") == "u1"
    assert thread_id("u1", "assistant", "assistant") == "u1"
    assert split_thread("u1") == ("u1", None)


def test_another_agents_thread_splits_back() -> None:
    thread = thread_id("user.1@x", "billing-v2", "assistant")
    assert thread == "user.1@x~billing-v2"
    assert split_thread(thread) == ("user.1@x", "billing-v2")
    assert check_thread_id(thread, 64) == thread


def test_a_thread_id_is_not_a_user_id() -> None:
    with pytest.raises(InvalidUserId):
        check_user_id("u1~billing", 64)


@pytest.mark.parametrize("bad", ["u1~", "~billing", "u1~bill~ing", "u1~bill ing", "u1~" + "a" * 65])
def test_malformed_thread_ids_are_refused(bad: str) -> None:
    with pytest.raises(InvalidUserId):
        check_thread_id(bad, 64)


def test_events_of_a_thread_are_read() -> None:
    data = {
        "user_id": "u1~billing",
        "seq": 1,
        "input": {"role": "user", "content": "hi"},
        "output": {"role": "assistant", "content": "hello"},
        "timestamp": "2026-12-07T00:00:00Z",
    }
    assert parse_event({"data": data}, 64).user_id == "u1~billing"
