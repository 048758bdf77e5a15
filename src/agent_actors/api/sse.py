"""Server-Sent Events: what each event of a stream holds (the OpenAPI text of the streaming
routes), one event written, and the ``Last-Event-ID`` a client reconnects with.

Every event carries the id ``<seq>-<pos>``: the turn, and the event's position in the turn's
stream (``streams/turn_log.py``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Header
from sse_starlette import ServerSentEvent

from agent_actors.errors import InvalidInput
from agent_actors.streams.turn_log import parse_event_id


def _event(name: str, required: dict[str, str], *, closed: bool = True) -> dict[str, Any]:
    """One event's ``data``: the fields it always has (``closed``: and no others)."""
    schema: dict[str, Any] = {
        "title": name,
        "type": "object",
        "required": list(required),
        "properties": {field: {"type": kind} for field, kind in required.items()},
    }
    if closed:
        schema["additionalProperties"] = False
    return schema


# What each event's data holds (``pending`` carries the turn's whole state, as GET
# /chat/{id}/turns/{seq} shows it, and its location).
EVENT_DATA = {
    "token": _event("token", {"text": "string"}),
    "reset": _event("reset", {}),
    "done": _event("done", {"role": "string", "content": "string", "seq": "integer"}),
    "pending": _event("pending", {"status": "string", "location": "string"}, closed=False),
    "error": _event("error", {"detail": "string", "code": "string", "status": "integer"}),
}
SSE_EVENT: dict[str, Any] = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"type": "string", "enum": list(EVENT_DATA)},
        "data": {
            "type": "string",
            "description": "a JSON object; its fields depend on the event",
            "contentMediaType": "application/json",
            "contentSchema": {"oneOf": list(EVENT_DATA.values())},
        },
    },
}
SSE_RESPONSE: dict[str, Any] = {
    "description": "Server-Sent Events: `token` {text} (append), `reset` {} (drop the tokens "
    "so far), then `done` {role, content, seq} or `error` {detail, code, status}; each with "
    "the id `<seq>-<pos>` a client reconnects with (`Last-Event-ID`)",
    "content": {
        "text/event-stream": {
            # OpenAPI 3.1 reads an event stream's `schema` as the schema of one event.
            "schema": SSE_EVENT,
            "example": 'event: token\ndata: {"text": "Hel"}\nid: 1-1\n\nevent: token\n'
            'data: {"text": "lo"}\nid: 1-2\n\nevent: done\ndata: {"role": "assistant", '
            '"content": "Hello", "seq": 1}\nid: 1-3\n\n',
        }
    },
}


def sse(event: str, data: dict[str, Any], id: str | None = None) -> ServerSentEvent:
    return ServerSentEvent(event=event, data=json.dumps(data), id=id, sep="\n")


LastEventId = Annotated[
    str | None,
    Header(
        alias="Last-Event-ID",
        description="the id (`<seq>-<pos>`) of the last event a client got: the stream "
        "goes on after it (what EventSource sends when it reconnects)",
    ),
]


def position(last_event_id: str, seq: int | None = None) -> tuple[int, int]:
    """The turn and the position a ``Last-Event-ID`` names (of turn ``seq``, if given)."""
    parsed = parse_event_id(last_event_id)
    if parsed is None:
        raise InvalidInput("Last-Event-ID is the id of an event of this API: <seq>-<pos>")
    if seq is not None and parsed[0] != seq:
        raise InvalidInput(f"Last-Event-ID names an event of turn {parsed[0]}, not of turn {seq}")
    return parsed
