"""ChatAgent's paged history on top of the SDK's state manager (layout in ``state.py``)."""

from __future__ import annotations

from typing import Any

from agent_actors.models import ChatMessage
from agent_actors.store import payload
from agent_actors.store.state import ChatMeta, HistoryPage, page_key

META_KEY = "meta"
# Validated pages kept (the last ones: a turn reads and writes the conversation's tail).
VALIDATED_PAGES = 4


class HistoryStore:
    def __init__(self, state_manager: Any, page_size: int, keep_pages: bool = True) -> None:
        self._sm = state_manager
        self._default_page_size = page_size
        # Off over a state loader that returns a new object every time (``committed.py``):
        # nothing kept could ever be found again.
        self._keep_pages = keep_pages
        # Pages already validated, with the raw value each was made from. The SDK's state
        # manager hands back the very object it holds until it reloads the key or is given a
        # new value, so identity says the page is still the one validated. Validating a page
        # of up to page_size messages on every read and append showed in the app's profile
        # (docs/BENCHMARKS.md, "Figures behind the code's comments").
        self._validated: dict[int, tuple[Any, HistoryPage]] = {}

    async def meta(self) -> ChatMeta:
        found, raw = await self._sm.try_get_state(META_KEY)
        if not found:
            # The page size is fixed at the first turn, so changing the setting later never
            # misreads an existing conversation.
            return ChatMeta(page_size=self._default_page_size)
        return ChatMeta.model_validate(raw)

    async def save_meta(self, meta: ChatMeta) -> None:
        await self._sm.set_state(META_KEY, meta.model_dump())

    async def page(self, page: int) -> HistoryPage:
        """Page ``page`` (empty when there is none). Read-only: it may be shared with the
        next read; ``append`` writes a copy."""
        found, raw = await self._sm.try_get_state(page_key(page))
        if not found:
            return HistoryPage()
        held = self._validated.get(page)
        if held is not None and held[0] is raw:
            return held[1]
        validated = HistoryPage.model_validate(raw)
        self._keep(page, raw, validated)
        return validated

    def _keep(self, number: int, raw: Any, page: HistoryPage) -> None:
        if not self._keep_pages:
            return
        self._validated.pop(number, None)
        self._validated[number] = (raw, page)
        while len(self._validated) > VALIDATED_PAGES:
            del self._validated[next(iter(self._validated))]

    async def append(self, meta: ChatMeta, messages: list[ChatMessage], at: float = 0.0) -> None:
        """Write ``messages`` after the last committed entry: only the pages they land on."""
        index = meta.entries
        pages: dict[int, HistoryPage] = {}
        for message in messages:
            number, offset = divmod(index, meta.page_size)
            if number not in pages:
                read = await self.page(number)
                pages[number] = HistoryPage.model_construct(
                    entries=list(read.entries), at=list(read.at)
                )
            page = pages[number]
            # A failed earlier attempt may have left nothing behind (the cache is cleared), but
            # be exact anyway: the entry at `offset` is overwritten, never appended twice.
            del page.entries[offset:]
            page.entries.append(message)
            del page.at[offset:]
            page.at.extend([0.0] * (offset - len(page.at)))
            page.at.append(at)
            index += 1
        for number, page in pages.items():
            raw = page.model_dump()
            await self._sm.set_state(page_key(number), raw)
            self._keep(number, raw, page)

    async def range(self, meta: ChatMeta, start: int, end: int) -> list[ChatMessage]:
        if end <= start:
            return []
        out: list[ChatMessage] = []
        first, last = start // meta.page_size, (end - 1) // meta.page_size
        for number in range(first, last + 1):
            base = number * meta.page_size
            entries = (await self.page(number)).entries
            out.extend(entries[max(0, start - base) : max(0, end - base)])
        return out

    async def newest_within(
        self, meta: ChatMeta, start: int, end: int, budget: int
    ) -> list[ChatMessage]:
        """The newest entries of ``start .. end`` whose encoded bytes stay within ``budget``
        (at least one when there is one: a reader paging on must always move), read page by
        page from the newest and no further than what is returned: paging a long conversation
        costs each page once, not the whole range again at every step."""
        newest_first: list[ChatMessage] = []
        used, index = 0, end
        while index > start:
            number = (index - 1) // meta.page_size
            base = number * meta.page_size
            entries = (await self.page(number)).entries
            for entry in reversed(entries[max(0, start - base) : index - base]):
                used += payload.encoded_size(entry) + 1
                if used > budget and newest_first:
                    return newest_first[::-1]
                newest_first.append(entry)
            index = base
        return newest_first[::-1]

    async def tail(self, meta: ChatMeta, count: int) -> list[ChatMessage]:
        return await self.range(meta, max(0, meta.entries - count), meta.entries)

    async def turn(self, meta: ChatMeta, seq: int) -> tuple[ChatMessage, ChatMessage]:
        user, reply = await self.range(meta, (seq - 1) * 2, seq * 2)
        return user, reply

    def last_page(self, meta: ChatMeta) -> int:
        """The number of the last page a committed entry is on (-1: none)."""
        return (meta.entries - 1) // meta.page_size if meta.entries else -1
