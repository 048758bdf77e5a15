"""A page of ChatAgent's history for the export (GET /chat/{id}/export pages through it)."""

from __future__ import annotations

from agent_actors.actors.interfaces import ExportEntry, ExportPage, ExportQuery
from agent_actors.store import payload
from agent_actors.store.history import HistoryStore


async def export_page(history: HistoryStore, asked: ExportQuery, budget: int) -> ExportPage:
    """Entries ``start .. start+limit`` with their seq and commit time: the first of them
    that fit in ``budget`` bytes (one answer through daprd); the export asks again from where
    this page ends."""
    meta = await history.meta()
    start, end = min(asked.start, meta.entries), min(asked.start + asked.limit, meta.entries)
    out: list[ExportEntry] = []
    used, index = 0, start
    # Page by page, and no further than the budget goes: the export asks again from there, so
    # reading past it would read those pages twice.
    while index < end and (used <= budget or not out):
        number, offset = divmod(index, meta.page_size)
        page = await history.page(number)
        stop = min(end - number * meta.page_size, len(page.entries))
        for i in range(offset, stop):
            entry = page.entries[i]
            at = page.at[i] if i < len(page.at) and page.at[i] else None
            item = ExportEntry(
                index=index, seq=index // 2 + 1, role=entry.role, content=entry.content, at=at
            )
            used += payload.encoded_size(item) + 1
            if used > budget and out:
                break
            out.append(item)
            index += 1
        if stop <= offset:
            break  # a page shorter than meta says: never expected, never loop
    return ExportPage(entries=out, total=meta.entries)
