"""HistoryStore's validated pages: reused while the state manager holds the same value, never
stale after a write or a reload, and never changed under a reader by an append."""

from __future__ import annotations

from typing import Any

import pytest

from agent_actors.models import ChatMessage
from agent_actors.store import history
from agent_actors.store.history import HistoryStore
from agent_actors.store.state import ChatMeta, HistoryPage


class Held:
    """The SDK state manager's contract that matters here: the object set is the one got."""

    def __init__(self) -> None:
        self.values: dict[str, Any] = {}

    async def try_get_state(self, key: str) -> tuple[bool, Any]:
        return (True, self.values[key]) if key in self.values else (False, None)

    async def set_state(self, key: str, value: Any) -> None:
        self.values[key] = value


@pytest.fixture
def validations(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    counted: list[int] = []
    original = HistoryPage.model_validate.__func__  # type: ignore[attr-defined]

    def counting(cls: type[HistoryPage], raw: Any, **kw: Any) -> HistoryPage:
        counted.append(1)
        return original(cls, raw, **kw)  # type: ignore[no-any-return]

    monkeypatch.setattr(HistoryPage, "model_validate", classmethod(counting))
    return counted


def msgs(*texts: str) -> list[ChatMessage]:
    return [ChatMessage(role="user", content=t) for t in texts]


async def test_a_page_is_validated_once_while_the_state_manager_holds_it(
    validations: list[int],
) -> None:
    sm = Held()
    store = HistoryStore(sm, page_size=4)
    meta = ChatMeta(page_size=4)
    await store.append(meta, msgs("a", "b"))
    validations.clear()
    first = await store.page(0)
    assert [m.content for m in first.entries] == ["a", "b"]
    assert await store.page(0) is first
    assert validations == []  # the appended page is the one held: nothing to validate


async def test_an_append_leaves_a_page_read_before_it_as_it_was() -> None:
    sm = Held()
    store = HistoryStore(sm, page_size=4)
    meta = ChatMeta(page_size=4)
    await store.append(meta, msgs("a", "b"))
    meta.turns = 1
    before = await store.page(0)
    await store.append(meta, msgs("c", "d"))
    assert [m.content for m in before.entries] == ["a", "b"]
    assert [m.content for m in (await store.page(0)).entries] == ["a", "b", "c", "d"]
    # what the state manager holds matches what the store hands out
    assert [e["content"] for e in sm.values["history-0"]["entries"]] == ["a", "b", "c", "d"]


async def test_a_value_reloaded_by_the_state_manager_is_validated_afresh(
    validations: list[int],
) -> None:
    sm = Held()
    store = HistoryStore(sm, page_size=4)
    await store.append(ChatMeta(page_size=4), msgs("a"))
    # The SDK reloads the key (its cache was cleared): an equal value, another object, which
    # another replica may have changed meanwhile.
    sm.values["history-0"] = {"entries": [{"role": "user", "content": "z"}], "at": [1.0]}
    validations.clear()
    assert [m.content for m in (await store.page(0)).entries] == ["z"]
    assert validations == [1]


async def test_only_the_last_pages_are_kept(validations: list[int]) -> None:
    sm = Held()
    store = HistoryStore(sm, page_size=1)
    pages = history.VALIDATED_PAGES + 2
    await store.append(ChatMeta(page_size=1), msgs(*(str(i) for i in range(pages))))
    assert len(store._validated) == history.VALIDATED_PAGES
    validations.clear()
    await store.page(0)  # dropped from the kept pages: validated again
    await store.page(pages - 1)  # kept
    assert validations == [1]


async def test_a_store_over_fresh_objects_keeps_no_pages() -> None:
    class Fresh(Held):
        async def try_get_state(self, key: str) -> tuple[bool, Any]:
            found, value = await super().try_get_state(key)
            return found, dict(value) if found else None  # a new object every read

    sm = Fresh()
    sm.values["history-0"] = {"entries": [{"role": "user", "content": "a"}], "at": [1.0]}
    store = HistoryStore(sm, page_size=4, keep_pages=False)
    assert [m.content for m in (await store.page(0)).entries] == ["a"]
    assert store._validated == {}


class CountedReads(Held):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    async def try_get_state(self, key: str) -> tuple[bool, Any]:
        self.reads.append(key)
        return await super().try_get_state(key)


async def test_the_newest_within_a_budget_read_no_page_they_do_not_return() -> None:
    """Paging back through a long conversation reads each page once: the newest that fit, page
    by page from the newest, never the whole range asked for (found in review: each step of
    GET /history read ~all of it again)."""
    state = CountedReads()
    store = HistoryStore(state, page_size=4, keep_pages=False)
    meta = ChatMeta(page_size=4)
    await store.append(meta, [ChatMessage(role="user", content=f"m{n}") for n in range(40)])
    one = len('{"role": "user", "content": "m10"}') + 1
    state.reads.clear()
    got = await store.newest_within(meta, 0, 40, budget=6 * one)
    assert [m.content for m in got] == [f"m{n}" for n in range(34, 40)]
    # entries 34-39 are on pages 8 and 9: those two, not the ten the range spans
    assert state.reads == [history.page_key(9), history.page_key(8)]
    # At least one, whatever the budget.
    assert [m.content for m in await store.newest_within(meta, 0, 40, budget=1)] == ["m39"]
    assert await store.newest_within(meta, 5, 5, budget=100) == []
