"""ResponseAgent's record of model calls: bounded, paged, O(1) per turn.

Records live on pages of ``page_size`` in a ring of ``ceil(kept / page_size) + 1`` slots
(``calls-<slot>``); each page knows which logical page it holds, so a slot reused by a newer
page is never read as an older one. A turn writes the page(s) its records land on and the
meta, whatever the length of the conversation.

A record holds what its request asked and got back (``llm/audit.py``), so its size follows
the conversation's text: each one is cut to ``page_bytes / page_size`` as it is appended, and
a page stays under ``page_bytes`` (``llm.calls_page_bytes``, 32 KB by default), far below
daprd's max body size, however long the messages were. Each turn with a model call rewrites
the page its records land on, so pages are small (5 records by default): a log keeps the page
size it started with, and one started with bigger pages gets its records cut to
``page_bytes`` over that size. A read of many records answers the newest that fit under
daprd's max body size (``payload.py``) and says where to page on.
"""

from __future__ import annotations

from typing import Any

from agent_actors.models import CallRecord, fit_record
from agent_actors.store import payload
from agent_actors.store.state import CallLogMeta, CallPage

META_KEY = "calls-meta"


def slot_key(slot: int) -> str:
    return f"calls-{slot}"


def slots(meta: CallLogMeta, kept: int) -> int:
    return -(-kept // meta.page_size) + 1


class CallLog:
    def __init__(
        self, state_manager: Any, kept: int, page_size: int, page_bytes: int, budget: int
    ) -> None:
        self._sm = state_manager
        # Bytes of records one answer may carry (store/payload.py).
        self._budget = budget
        self._kept = kept
        self._default_page_size = page_size
        self._page_bytes = page_bytes

    async def meta(self) -> CallLogMeta:
        found, raw = await self._sm.try_get_state(META_KEY)
        # The page size is fixed at the first record, as the history's is.
        if not found:
            return CallLogMeta(page_size=self._default_page_size)
        return CallLogMeta.model_validate(raw)

    def _slots(self, meta: CallLogMeta) -> int:
        return slots(meta, self._kept)

    @staticmethod
    def current_key(meta: CallLogMeta, kept: int) -> str:
        """The slot the next record lands on."""
        return slot_key((meta.total // meta.page_size) % slots(meta, kept))

    async def _page(self, meta: CallLogMeta, number: int) -> CallPage:
        found, raw = await self._sm.try_get_state(slot_key(number % self._slots(meta)))
        page = CallPage.model_validate(raw) if found else CallPage()
        return page if page.number == number else CallPage(number=number)

    async def append(self, records: list[CallRecord]) -> None:
        """Stage ``records`` in the state manager; the caller saves (with the turn, or alone)."""
        meta = await self.meta()
        pages: dict[int, CallPage] = {}
        budget = self._page_bytes // meta.page_size
        for record in (fit_record(r, budget) for r in records):
            number = meta.total // meta.page_size
            if number not in pages:
                pages[number] = await self._page(meta, number)
            pages[number].records.append(record)
            meta.total += 1
        for number, page in pages.items():
            key = slot_key(number % self._slots(meta))
            await self._sm.set_state(key, page.model_dump(mode="json"))
        await self._sm.set_state(META_KEY, meta.model_dump())

    async def range(self, limit: int, before: int | None) -> dict[str, Any]:
        """Records ``[start, end)`` oldest first, with the cursor for the page before them."""
        meta = await self.meta()
        oldest = max(0, meta.total - self._kept)
        end = meta.total if before is None else max(oldest, min(before, meta.total))
        start = max(oldest, end - limit)
        out: list[CallRecord] = []
        if end > start:
            for number in range(start // meta.page_size, (end - 1) // meta.page_size + 1):
                base = number * meta.page_size
                records = (await self._page(meta, number)).records
                out.extend(records[max(0, start - base) : max(0, end - base)])
            # The newest of them that fit in one answer through daprd; the caller pages on
            # from next_before.
            out = payload.newest_that_fit(out, self._budget)
            start = end - len(out)
        return {
            "calls": [r.model_dump(mode="json") for r in out],
            "total": meta.total,
            "next_before": start if start > oldest else None,
        }
