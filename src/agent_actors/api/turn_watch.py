"""A turn's stream read back from its log (``streams/turn_log.py``): the events after the
position a client names, then the turn's end. Used by ``GET /chat/{id}/turns/{seq}/stream``
(attach), by ``POST /chat/{id}/stream`` with ``Last-Event-ID`` (reconnect), and by the live
stream for its tail (what the relay had not brought yet when the turn committed).

Every event has the SSE id ``<seq>-<pos>``. The end comes from ChatAgent, not from the log: a
sync turn holds ChatAgent's turn lock while it runs, so ``GetTurn`` answers once it is over:
committed (``done``), or neither committed nor open (the replica running it died, or it
failed: ``error`` turn_interrupted); a long turn has its record (pending, awaiting_approval
-> ``pending``, done, failed). Every wait is bounded (``streams.watch_max_s``).

Before ``done`` the log is checked against the committed reply: its events from the first,
with their resets applied, must spell it. When they do not (a hole: Redis was down, the log
was trimmed or expired, or the turn never streamed) the client gets a ``reset`` (if it may hold
text) and the committed reply as one ``token``: what it holds is always the reply.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent

from agent_actors.actors.interfaces import TurnView
from agent_actors.actors.proxies import ChatAgentClient
from agent_actors.actors.runs import TurnRuns
from agent_actors.api.sse import sse
from agent_actors.errors import (
    AgentActorsError,
    StreamTimeout,
    TurnInterrupted,
    TurnNotFound,
    error_for_code,
)
from agent_actors.streams.turn_log import Logged, TurnEvents, event_id, replayed_text

logger = logging.getLogger(__name__)
# How long one read of the log waits for an event, so the end of the turn is seen this soon.
READ_BLOCK_S = 1.0
# A turn just committed whose log does not spell its reply yet: its last events may still be
# on their way to Redis this long.
GRACE_S = 0.5
# Between two asks of ChatAgent when the sidecar failed, and while a long turn is pending.
RETRY_S = 1.0
# A read of the log that has no answer this long past its own wait: Redis is stuck.
READ_LIMIT_S = 2.0


@dataclass(frozen=True)
class Ending:
    """A turn's last event: ``done`` (``content``: the committed reply), ``error`` or
    ``pending`` (a tool call waits for approval)."""

    name: str
    data: dict[str, Any]
    content: str | None = None


def done(seq: int, role: str, content: str) -> Ending:
    return Ending("done", {"role": role, "content": content, "seq": seq}, content)


def failed(exc: AgentActorsError) -> Ending:
    return Ending("error", {"detail": exc.message, "code": exc.code, "status": exc.status})


def ending_of(view: TurnView, location: str) -> Ending | None:
    """The end a turn's state says, or None while it is pending."""
    if view.status == "done" and view.response is not None:
        return done(view.seq, view.response.role, view.response.content)
    if view.status == "failed" and view.error is not None:
        return failed(error_for_code(view.error.code, view.error.detail))
    if view.status == "awaiting_approval":
        return Ending("pending", {**view.model_dump(mode="json"), "location": location})
    return None


async def turn_end(
    chat: ChatAgentClient,
    thread: str,
    seq: int,
    runs: TurnRuns,
    location: str,
    existed: Callable[[], Awaitable[bool]],
) -> Ending:
    """How turn ``seq`` ended, once it did (``existed``: whether it ever ran, for a turn
    ChatAgent does not know)."""
    while True:
        try:
            view = await chat.turn(seq)
        except TurnNotFound as exc:
            if not await existed():
                return failed(exc)
            return failed(
                TurnInterrupted(
                    f"turn {seq} ended without a reply (the replica running it stopped, or it "
                    "failed): nothing of it was saved; send the message again"
                )
            )
        except AgentActorsError as exc:
            if exc.status < 500:
                return failed(exc)
            await asyncio.sleep(RETRY_S)  # the sidecar, or the actor moving: ask again
            continue
        ending = ending_of(view, location)
        if ending is not None:
            return ending
        await runs.wait_for_change(thread, RETRY_S)


async def bounded(end: Awaitable[Ending], limit_s: float) -> Ending:
    try:
        return await asyncio.wait_for(end, limit_s)
    except TimeoutError:
        return failed(
            StreamTimeout(f"the turn did not end within {limit_s:g} s; it goes on: attach again")
        )


def logged_sse(event: Logged) -> ServerSentEvent:
    data = {"text": event.text} if event.kind == "token" else {}
    return sse(event.kind, data, event_id(event.seq, event.pos))


async def watch(
    log: TurnEvents | None,
    thread: str,
    seq: int,
    after: int,
    end: asyncio.Future[Ending],
    *,
    holding: bool,
    intact: bool = True,
    held: list[str] | None = None,
) -> AsyncIterator[ServerSentEvent]:
    """The turn's events after position ``after``, then its end. ``holding``: the client may
    hold text already; ``intact``: what it holds is the log up to ``after``; ``held`` (a
    live stream's route knows it): the text it holds, resets applied."""
    pos = after
    while intact and log is not None and not end.done():
        reading = asyncio.ensure_future(_read(log, thread, seq, pos, READ_BLOCK_S))
        try:
            either: set[asyncio.Future[Any]] = {reading, end}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            # The turn ended first (or the client left): a read is repeatable, the rest is
            # read again below.
            ended_first = not reading.done()
            if ended_first:
                reading.cancel()
        if ended_first:
            break
        got = reading.result()
        if got is None:
            intact = False  # Redis down: the committed reply closes the stream
            break
        for event in got:
            if event.pos != pos + 1:
                intact = False  # a hole: the committed reply closes the stream
                break
            yield logged_sse(event)
            pos, holding = event.pos, True
    ending = await end
    if ending.content is None:
        yield sse(ending.name, ending.data, event_id(seq, pos + 1))
        return
    spelled = False
    if intact and log is not None:
        for block_s in (None, GRACE_S):
            got = await _read(log, thread, seq, pos, block_s)
            for event in got or []:
                if event.pos != pos + 1:
                    intact = False
                    break
                yield logged_sse(event)
                pos, holding = event.pos, True
                if held is not None and event.kind == "reset":
                    held.clear()
                elif held is not None:
                    held.append(event.text)
            if intact and got is not None and held is not None and "".join(held) == ending.content:
                # The client got every event from the first, straight from the log (an event
                # is handed on only once written), and they spell the reply: the whole log's
                # read is not needed (at 1,000 streams, most of the end's CPU: bench W3).
                spelled = True
                break
            whole = await _read(log, thread, seq, 0) if got is not None else None
            if whole is None:
                break  # Redis down: the committed reply closes the stream
            spelled = intact and _spells(whole, ending.content)
            if spelled:
                # Events the writer added between the two reads (it lags under load: bench
                # W3 at 1,000 streams): the client gets them too, or it would hold less than
                # the reply its done says it holds.
                for event in whole[pos:]:
                    yield logged_sse(event)
                    pos, holding = event.pos, True
            if spelled or not intact or not whole:
                break
    if not spelled:
        if holding:
            yield sse("reset", {}, event_id(seq, pos))
        yield sse("token", {"text": ending.content}, event_id(seq, pos))
    yield sse(ending.name, ending.data, event_id(seq, pos + 1))


async def _read(
    log: TurnEvents, thread: str, seq: int, after: int, block_s: float | None = None
) -> list[Logged] | None:
    """``log.read``, or None when Redis fails or does not answer: the turn's end still comes
    from ChatAgent, so a stream never breaks off for want of its log."""
    try:
        async with asyncio.timeout((block_s or 0.0) + READ_LIMIT_S):
            return await log.read(thread, seq, after, block_s=block_s)
    except Exception as exc:
        logger.warning("turn log: could not read %s:%d: %r", thread, seq, exc)
        return None


def _spells(whole: list[Logged], content: str) -> bool:
    """The log holds every event from the first, and they spell ``content``."""
    if not whole or any(e.pos != i for i, e in enumerate(whole, start=1)):
        return False
    return replayed_text(whole) == content


def watch_response(
    chat: ChatAgentClient,
    log: TurnEvents | None,
    runs: TurnRuns,
    thread: str,
    seq: int,
    after: int,
    *,
    location: str,
    limit_s: float,
    ping_s: float,
    headers: dict[str, str],
) -> EventSourceResponse:
    """The stream of turn ``seq`` after position ``after``: attach, or reconnect."""

    async def existed() -> bool:
        if after > 0 or log is None:
            return after > 0
        try:
            return await log.last_pos(thread, seq) > 0
        except Exception:
            return False  # Redis down: nothing says the turn ever ran

    async def events() -> AsyncIterator[ServerSentEvent]:
        ask = turn_end(chat, thread, seq, runs, location, existed)
        end = asyncio.ensure_future(bounded(ask, limit_s))
        try:
            async for event in watch(log, thread, seq, after, end, holding=after > 0):
                yield event
        finally:
            end.cancel()

    return EventSourceResponse(events(), ping=ping_s, sep="\n", headers=headers)
