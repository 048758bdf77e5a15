"""The default responder: deterministic, no network, answers as the tutorial's mock did.

It honours the conversation's agent profile as far as it can without a model: the memory it
quotes is the profile's window (ResponseAgent trims it), and a reply of any profile but the
default starts with the profile's name in brackets (``[support] Memory: ...``), so tests can
tell which agent answered. The default profile's reply is the tutorial's, byte for byte.

Each memory entry is quoted up to ``QUOTE_CHARS``: the tutorial quoted them whole, and since
replies quote memory that holds earlier replies, a reply grew geometrically with the turn
number (past daprd's 4 MB request limit within ~40 turns).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from agent_actors.llm.responder import ReplyContext, ReplyRequest

QUOTE_CHARS = 80


def quote(text: str) -> str:
    return text if len(text) <= QUOTE_CHARS else text[: QUOTE_CHARS - 1] + "…"


class OfflineResponder:
    def __init__(self, clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self._clock = clock

    async def reply(self, request: ReplyRequest, context: ReplyContext) -> str:
        remembered = (
            "; ".join(f"{m.role}: {quote(m.content)}" for m in request.memory)
            if request.memory
            else f"Message count: {request.count}"
        )
        stamp = self._clock().isoformat()
        profile = request.profile
        named = "" if request.default_profile or profile is None else f"[{profile.name}] "
        return (
            f"{named}Memory: {remembered}. Got your message: {request.message.content} at {stamp}"
        )
