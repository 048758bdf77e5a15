"""The search_history tool's view of this user's committed conversation.

ResponseAgent may never call ChatAgent: ChatAgent is mid-turn, holding its turn lock while it
waits for this very reply, so a call back would deadlock until the actor call timeout. Passing
the whole history down with every turn would make each turn's cost grow with the conversation.
So the tool reads ChatAgent's pages straight from the actor state store through daprd's actor
state API (``GET /v1.0/actors/ChatAgent/<id>/state/<key>``), which takes no actor lock and
works whichever replica hosts ChatAgent (daprd 1.18 does not check where the actor lives).
The read is consistent: ChatAgent writes nothing while it waits for ResponseAgent, so the
pages hold exactly the committed turns. Cost is bounded per tool call: newest pages first,
at most ``max_pages`` of them.
"""

from __future__ import annotations

from agent_actors.llm.tools import matches
from agent_actors.models import ChatMessage
from agent_actors.store.history import HistoryStore


class CommittedHistory:
    """Searches ChatAgent's committed pages (a read-only ``committed_history`` store)."""

    def __init__(self, history: HistoryStore, max_pages: int) -> None:
        self._history = history
        self._max_pages = max_pages

    async def search(self, query: str, limit: int) -> list[ChatMessage]:
        meta = await self._history.meta()
        if meta.entries == 0:
            return []
        out: list[ChatMessage] = []
        last = (meta.entries - 1) // meta.page_size
        for number in range(last, max(-1, last - self._max_pages), -1):
            entries = (await self._history.page(number)).entries
            out.extend(matches(list(reversed(entries)), query))
            if len(out) >= limit:
                break
        return out[:limit]
