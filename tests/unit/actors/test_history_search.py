"""The search tool's reach: ChatAgent's committed pages, newest first, bounded."""

from __future__ import annotations

from typing import Any

from agent_actors.actors.history_search import CommittedHistory
from agent_actors.store.committed import committed_history
from agent_actors.store.state import ChatMeta, HistoryPage


def store(entries: list[str], page_size: int) -> dict[tuple[str, str, str], Any]:
    data: dict[tuple[str, str, str], Any] = {
        ("ChatAgent", "u1", "meta"): ChatMeta(
            turns=len(entries) // 2, page_size=page_size
        ).model_dump()
    }
    for start in range(0, len(entries), page_size):
        page = HistoryPage.model_validate(
            {
                "entries": [
                    {"role": "user", "content": c} for c in entries[start : start + page_size]
                ]
            }
        )
        data[("ChatAgent", "u1", f"history-{start // page_size}")] = page.model_dump()
    return data


def searcher(data: dict[tuple[str, str, str], Any], reads: list[str], max_pages: int) -> Any:
    return CommittedHistory(committed_history(loader(data, reads), "u1", 20), max_pages)


def loader(data: dict[tuple[str, str, str], Any], reads: list[str]) -> Any:
    async def load(actor_type: str, actor_id: str, key: str) -> tuple[bool, Any]:
        reads.append(key)
        found = (actor_type, actor_id, key) in data
        return found, data.get((actor_type, actor_id, key))

    return load


async def test_finds_matches_newest_first_across_pages() -> None:
    data = store(["cat a", "x", "cat b", "y", "cat c", "z"], page_size=2)
    reads: list[str] = []
    found = await searcher(data, reads, max_pages=10).search("cat", 2)
    assert [m.content for m in found] == ["cat c", "cat b"]
    assert reads == ["meta", "history-2", "history-1"]


async def test_reads_at_most_max_pages() -> None:
    data = store(["cat a", "x", "y", "z", "w", "v"], page_size=2)
    reads: list[str] = []
    found = await searcher(data, reads, max_pages=2).search("cat", 5)
    assert found == []
    assert reads == ["meta", "history-2", "history-1"]


async def test_an_empty_conversation_has_nothing() -> None:
    reads: list[str] = []
    assert await searcher({}, reads, max_pages=2).search("cat", 5) == []
