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

from collections.abc import Awaitable, Callable
from typing import Any

from agent_actors.actors import naming
from agent_actors.actors.history import META_KEY
from agent_actors.actors.state import ChatMessage, ChatMeta, HistoryPage, page_key
from agent_actors.llm.tools import matches

# (actor type, actor id, key) -> (found, value): the SDK's StateProvider.try_load_state.
StateLoader = Callable[[str, str, str], Awaitable[tuple[bool, Any]]]


class CommittedHistory:
    def __init__(self, load: StateLoader, user_id: str, max_pages: int) -> None:
        self._load = load
        self._user = user_id
        self._max_pages = max_pages

    async def search(self, query: str, limit: int) -> list[ChatMessage]:
        found, raw = await self._load(naming.CHAT, self._user, META_KEY)
        if not found:
            return []
        meta = ChatMeta.model_validate(raw)
        if meta.entries == 0:
            return []
        out: list[ChatMessage] = []
        last = (meta.entries - 1) // meta.page_size
        for number in range(last, max(-1, last - self._max_pages), -1):
            found, raw = await self._load(naming.CHAT, self._user, page_key(number))
            if found:
                entries = HistoryPage.model_validate(raw).entries
                out.extend(matches(list(reversed(entries)), query))
            if len(out) >= limit:
                break
        return out[:limit]
