"""Reading Server-Sent Events in tests with httpx-sse (TestClient is an httpx client too)."""

from __future__ import annotations

from typing import Any

import httpx
from httpx_sse import EventSource


def events_of(resp: httpx.Response, stop_after: int | None = None) -> list[tuple[str, Any]]:
    """``(event name, JSON data)`` pairs of a text/event-stream response, stopping after
    ``stop_after`` events if given (the connection is left for the caller to close)."""
    events: list[tuple[str, Any]] = []
    for sse in EventSource(resp).iter_sse():
        if not sse.data:
            # Not an event: httpx-sse 0.4 dispatches an empty one at a `: ping` comment once
            # an event had an id (florimondmanca/httpx-sse#35); browsers ignore it.
            continue
        events.append((sse.event, sse.json()))
        if stop_after is not None and len(events) >= stop_after:
            break
    return events
