"""The call log: a ring of pages, bounded, paged newest last."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from agent_actors.actors.call_log import CallLog
from agent_actors.models import CallRecord, RecordedMessage


class DictState:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    async def try_get_state(self, key: str) -> tuple[bool, Any]:
        return (key in self.data, self.data.get(key))

    async def set_state(self, key: str, value: Any) -> None:
        self.data[key] = value


def record(seq: int) -> CallRecord:
    return CallRecord(seq=seq, at=datetime(2030, 1, 1, tzinfo=UTC), model="m")


async def test_records_page_back_with_a_cursor() -> None:
    log = CallLog(DictState(), kept=100, page_size=3)
    await log.append([record(i) for i in range(1, 8)])
    newest = await log.range(limit=4, before=None)
    assert [c["seq"] for c in newest["calls"]] == [4, 5, 6, 7]
    assert (newest["total"], newest["next_before"]) == (7, 3)
    older = await log.range(limit=4, before=3)
    assert [c["seq"] for c in older["calls"]] == [1, 2, 3]
    assert older["next_before"] is None


async def test_only_the_kept_records_are_stored_and_shown() -> None:
    state = DictState()
    log = CallLog(state, kept=5, page_size=2)
    for i in range(1, 31):
        await log.append([record(i)])
    shown = await log.range(limit=100, before=None)
    assert [c["seq"] for c in shown["calls"]] == [26, 27, 28, 29, 30]
    assert shown["total"] == 30
    assert shown["next_before"] is None
    # ceil(5 / 2) + 1 ring slots and the meta, whatever the number of calls.
    assert len(state.data) == 5


async def test_a_page_of_large_records_stays_under_its_byte_bound() -> None:
    state = DictState()
    log = CallLog(state, kept=100, page_size=20, page_bytes=131072)
    text = "ü" * 2000  # stored escaped: 6 bytes a character
    big = record(1).model_copy(
        update={
            "messages": [RecordedMessage(role="user", content=text, chars=2000)] * 24,
            "answer": text,
        }
    )
    for _ in range(20):
        await log.append([big])
    (page,) = [v for k, v in state.data.items() if k != "calls-meta"]
    assert len(page["records"]) == 20
    assert len(json.dumps(page)) < 131072
    assert page["records"][-1]["messages"][-1]["chars"] == 2000
