"""The default responder: deterministic, no network, answers as the tutorial's mock did.

It honours the conversation's agent profile as far as it can without a model: the memory it
quotes is the profile's window (ResponseAgent trims it), and a reply of any profile but the
default starts with the profile's name in brackets (``[support] Memory: ...``), so tests can
tell which agent answered. The default profile's reply is the tutorial's, byte for byte.

A profile with delegates hands the message to each delegate it names as a word (``ask
billing and shipping``), in the order the profile lists them, and adds one line per answer:
delegation driven without a model, deterministically.

Each memory entry is quoted up to ``QUOTE_CHARS``: the tutorial quoted them whole, and since
replies quote memory that holds earlier replies, a reply grew geometrically with the turn
number (past daprd's 4 MB request limit within ~40 turns).
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from agent_actors.llm.delegate_tools import ask_all, named_in
from agent_actors.llm.responder import Delegated, ReplyContext, ReplyRequest
from agent_actors.models import CallRecord, ToolCallRecord

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
        reply = (
            f"{named}Memory: {remembered}. Got your message: {request.message.content} at {stamp}"
        )
        asked = named_in(request.message.content, request.delegates)
        if not asked or context.delegate is None:
            return reply
        started = time.monotonic()
        delegated = await ask_all(context.delegate, asked, request.message.content)
        context.calls.record(self._record(request, delegated, started))
        return reply + "".join(f"\n{answer_line(d)}" for d in delegated)

    def _record(
        self, request: ReplyRequest, delegated: list[Delegated], started: float
    ) -> CallRecord:
        """A delegating turn's record, as a model's would name its tool calls: without a
        model there is no request to record, but the delegations belong in the audit trail."""
        return CallRecord(
            seq=request.seq,
            at=self._clock(),
            model="offline",
            agent=request.profile.name if request.profile is not None else None,
            task_id=request.task_id,
            request_id=uuid.uuid4().hex,
            latency_ms=int((time.monotonic() - started) * 1000),
            tool_calls=[
                ToolCallRecord(
                    name=d.link.delegate,
                    id=f"offline-{n}",
                    # Content is recorded only by the model responder (llm.record_content):
                    # the link says whom the message went to, never what it said.
                    error=d.link.error,
                    delegation=d.link,
                )
                for n, d in enumerate(delegated)
            ],
        )


def answer_line(delegated: Delegated) -> str:
    """One delegate's part of an offline reply: ``billing: <answer>`` or why there is none."""
    link = delegated.link
    if delegated.answer is not None:
        return f"{link.delegate}: {delegated.answer}"
    return f"{link.delegate}: no answer ({link.status}: {link.error})"
