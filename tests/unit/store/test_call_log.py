"""The call log: a ring of pages, bounded, paged newest last."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from agent_actors.models import CallRecord, RecordedMessage
from agent_actors.settings import DaprSettings, LlmSettings
from agent_actors.store import payload
from agent_actors.store.call_log import CallLog


class DictState:
    def __init__(self) -> None:
        self.data: dict[str, Any] = {}

    async def try_get_state(self, key: str) -> tuple[bool, Any]:
        return (key in self.data, self.data.get(key))

    async def set_state(self, key: str, value: Any) -> None:
        self.data[key] = value


PAGE_BYTES = LlmSettings().calls_page_bytes
BUDGET = payload.budget(DaprSettings())


def record(seq: int) -> CallRecord:
    return CallRecord(seq=seq, at=datetime(2030, 1, 1, tzinfo=UTC), model="m")


async def test_records_page_back_with_a_cursor() -> None:
    log = CallLog(DictState(), kept=100, page_size=3, page_bytes=PAGE_BYTES, budget=BUDGET)
    await log.append([record(i) for i in range(1, 8)])
    newest = await log.range(limit=4, before=None)
    assert [c["seq"] for c in newest["calls"]] == [4, 5, 6, 7]
    assert (newest["total"], newest["next_before"]) == (7, 3)
    older = await log.range(limit=4, before=3)
    assert [c["seq"] for c in older["calls"]] == [1, 2, 3]
    assert older["next_before"] is None


async def test_only_the_kept_records_are_stored_and_shown() -> None:
    state = DictState()
    log = CallLog(state, kept=5, page_size=2, page_bytes=PAGE_BYTES, budget=BUDGET)
    for i in range(1, 31):
        await log.append([record(i)])
    shown = await log.range(limit=100, before=None)
    assert [c["seq"] for c in shown["calls"]] == [26, 27, 28, 29, 30]
    assert shown["total"] == 30
    assert shown["next_before"] is None
    # ceil(5 / 2) + 1 ring slots and the meta, whatever the number of calls.
    assert len(state.data) == 5


def big(seq: int) -> CallRecord:
    text = "ü" * 2000  # stored escaped: 6 bytes a character
    return record(seq).model_copy(
        update={
            "messages": [RecordedMessage(role="user", content=text, chars=2000)] * 24,
            "answer": text,
        }
    )


async def test_a_page_of_large_records_stays_under_its_byte_bound() -> None:
    llm = LlmSettings()
    state = DictState()
    log = CallLog(
        state,
        kept=100,
        page_size=llm.calls_page_size,
        page_bytes=llm.calls_page_bytes,
        budget=BUDGET,
    )
    for seq in range(llm.calls_page_size):
        await log.append([big(seq)])
    (page,) = [v for k, v in state.data.items() if k != "calls-meta"]
    assert len(page["records"]) == llm.calls_page_size
    assert len(json.dumps(page)) < llm.calls_page_bytes
    assert page["records"][-1]["messages"][-1]["chars"] == 2000


async def test_a_log_started_with_bigger_pages_keeps_them_and_cuts_new_records_to_fit() -> None:
    state = DictState()
    await CallLog(state, kept=100, page_size=20, page_bytes=131072, budget=BUDGET).append([big(0)])
    # The settings changed since: the log keeps pages of 20, each new record cut to 1/20 of
    # the byte bound.
    log = CallLog(state, kept=100, page_size=5, page_bytes=32768, budget=BUDGET)
    for seq in range(1, 20):
        await log.append([big(seq)])
    assert (await log.meta()).page_size == 20
    (page,) = [v for k, v in state.data.items() if k != "calls-meta"]
    assert len(page["records"]) == 20
    assert len(json.dumps(page["records"][1:])) < 32768
    assert [c["seq"] for c in (await log.range(limit=20, before=None))["calls"]] == list(range(20))
