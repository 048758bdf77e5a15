"""What a call record keeps of a model request, and the bounds that keep it storable.

The responder records each request's messages, the answer and the tool calls' arguments and
results, each text cut to ``llm.record_chars`` and the messages to ``llm.record_messages``
(the first, the system prompt, and the newest); with ``llm.record_content`` off only their
shape is kept (roles, lengths, tool names). The call log then fits each record into its share
of a stored page (``fit``): texts are cut shorter, then the oldest messages left out, until
the record's JSON is under the byte budget, so a page never nears daprd's request limit
whatever the model or the user wrote.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from agent_actors.models import CallRecord, RecordedMessage, ToolCallRecord
from agent_actors.settings import LlmSettings

# Shorter and shorter caps tried on every text of a record that is over its budget.
CAPS = (1000, 400, 160, 60, 20)


def cut(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(0, chars - 1)] + "…"


def recorded_messages(
    messages: list[dict[str, Any]], chars: int, count: int, content: bool
) -> list[RecordedMessage]:
    """The request's first message and its newest ``count - 1``, each cut to ``chars``."""
    kept = messages if len(messages) <= count else [messages[0], *messages[-(count - 1) :]]
    return [recorded(m, chars, content) for m in kept]


def recorded(message: dict[str, Any], chars: int, content: bool) -> RecordedMessage:
    text = message.get("content") or ""
    text = text if isinstance(text, str) else json.dumps(text)
    calls = [recorded_call(c, chars, content) for c in message.get("tool_calls") or []]
    return RecordedMessage(
        role=str(message.get("role", "")),
        content=cut(text, chars) if content else "",
        chars=len(text),
        tool_calls=calls,
        tool_call_id=message.get("tool_call_id"),
    )


def recorded_call(call: dict[str, Any], chars: int, content: bool) -> ToolCallRecord:
    function = call.get("function") or {}
    arguments = str(function.get("arguments") or "")
    return ToolCallRecord(
        name=str(function.get("name") or ""),
        id=call.get("id"),
        arguments=cut(arguments, chars) if content else "",
    )


def note_results(
    record: CallRecord, results: list[dict[str, Any]], chars: int, content: bool
) -> None:
    """Put each tool's result (the ``tool`` messages the responder sends back next) on the
    tool call of ``record`` that asked for it."""
    if not content:
        return
    by_id = {m.get("tool_call_id"): m for m in results if m.get("role") == "tool"}
    for call in record.tool_calls:
        found = by_id.get(call.id)
        if found is not None:
            call.result = cut(str(found.get("content") or ""), chars)


def size(record: CallRecord) -> int:
    """The record's size as the state store keeps it (JSON, non-ASCII escaped)."""
    return len(json.dumps(record.model_dump(mode="json")))


def record_bytes(llm: LlmSettings) -> int:
    """A record's share of a call-log page as the settings size it."""
    return llm.calls_page_bytes // llm.calls_page_size


def fit(record: CallRecord, max_bytes: int) -> CallRecord:
    """``record``, cut until its stored JSON is at most ``max_bytes`` (a copy when cut)."""
    if size(record) <= max_bytes:
        return record
    record = record.model_copy(deep=True)
    for cap in CAPS:
        for text in texts(record):
            text.cap(cap)
        if size(record) <= max_bytes:
            return record
    while len(record.messages) > 1 and size(record) > max_bytes:
        # The oldest after the system prompt go first: the newest say what was asked.
        del record.messages[1 if len(record.messages) > 2 else 0]
    # Only a pathological answer gets here (dozens of tool calls with huge names): the
    # record keeps its numbers, and as many of the calls as fit.
    while record.tool_calls and size(record) > max_bytes:
        record.tool_calls.pop()
    return record


class _Text:
    """One text field of a record, to cut in place."""

    def __init__(self, owner: Any, field: str) -> None:
        self._owner, self._field = owner, field

    def cap(self, chars: int) -> None:
        value = getattr(self._owner, self._field)
        if value:
            setattr(self._owner, self._field, cut(value, chars))


def texts(record: CallRecord) -> Iterator[_Text]:
    yield _Text(record, "answer")
    yield _Text(record, "error")
    for call in record.tool_calls:
        yield from (_Text(call, f) for f in ("arguments", "result", "error", "approval_note"))
    for message in record.messages:
        yield _Text(message, "content")
        for call in message.tool_calls:
            yield _Text(call, "arguments")
