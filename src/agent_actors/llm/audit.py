"""What a call record keeps of a model request, and the bounds that keep it storable.

The responder records each request's messages, the answer and the tool calls' arguments and
results, each text cut to ``llm.record_chars`` and the messages to ``llm.record_messages``
(the first, the system prompt, and the newest); with ``llm.record_content`` off only their
shape is kept (roles, lengths, tool names). The call log then fits each record into its share
of a stored page (``models.fit_record``): texts are cut shorter, then the oldest messages left
out, until the record's JSON is under the byte budget, so a page never nears daprd's request limit
whatever the model or the user wrote.
"""

from __future__ import annotations

import json
from typing import Any

from agent_actors.models import CallRecord, DelegationLink, RecordedMessage, ToolCallRecord, cut
from agent_actors.settings import LlmSettings


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


def note_delegations(record: CallRecord, links: dict[str, DelegationLink]) -> None:
    """Name each delegated task on the tool call that handed it on (kept even when content
    is not recorded: a link says who was asked, never what)."""
    for call in record.tool_calls:
        if call.id in links:
            call.delegation = links[call.id]


def record_bytes(llm: LlmSettings) -> int:
    """A record's share of a call-log page as the settings size it."""
    return llm.calls_page_bytes // llm.calls_page_size
