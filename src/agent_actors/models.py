"""The vocabulary every layer shares: messages, model-call records, user ids.

The ground of the package (with ``settings`` and ``errors``): it imports nothing above it.
Storage layouts live in ``store/state.py``, the event in ``events/conversation_updated.py``,
the HTTP schemas in ``api/schemas.py``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from agent_actors.errors import InvalidUserId

Role = Literal["user", "assistant", "system"]


class ChatMessage(BaseModel):
    role: Role
    content: str


def is_unicode_text(text: str) -> bool:
    """False for a string UTF-8 cannot carry (a lone surrogate such as "\\ud800" from JSON):
    saved, it would fail every later read, event and record of its conversation."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def as_unicode_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (pairs are joined first)."""
    if is_unicode_text(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class ActorTypes:
    """The actor types, as daprd and the state store's keys name them.

    A user's three actors all have the user's id as their actor id.

    Placement picks an actor's host by hashing its id on a ring built from the hosts alone (Dapr's
    ``placement/hashing``: virtual nodes are hashes of host names), so actors of different types
    with the same id always share a replica. A user's ChatAgent, ResponseAgent and
    MemoryAgentActor therefore live together: a turn's actor calls never cross to another
    replica, and a failover moves a user's three actors at once. (The tutorial's ids,
    ``response-<user>`` and ``memory-<user>``, spread them over the replicas; state kept under
    those ids is read no more: ResponseAgent's count is rebuilt from the committed history, and
    ``POST /memory/{id}/rebuild`` refills a window, see docs/architecture.md.)
    """

    CHAT = "ChatAgent"
    RESPONSE = "ResponseAgent"
    MEMORY = "MemoryAgentActor"


Purpose = Literal["reply", "tool_step", "repair"]


DelegationStatus = Literal["ok", "failed", "timeout"]


class DelegationLink(BaseModel):
    """A task one agent handed to another in its session (a delegate tool's call), as the
    caller's call record keeps it."""

    task_id: str
    delegate: str = Field(description="the agent profile the task went to")
    status: DelegationStatus = Field(
        description="ok: answered; failed: the delegate's turn failed; timeout: no answer "
        "within the caller's delegate_timeout_s"
    )
    latency_ms: int = 0
    seq: int | None = Field(None, description="the turn of the delegate's thread that answered")
    error: str | None = Field(None, description="why there is no answer (cut)")


class ToolCallRecord(BaseModel):
    """One tool call the model asked for in a request, and what became of it."""

    name: str
    id: str | None = Field(None, description="the model's id of the call")
    arguments: str = Field("", description="as the model wrote them (cut; empty: not recorded)")
    error: str | None = Field(None, description="why the call could not be used")
    result: str | None = Field(None, description="what the tool returned to the model (cut)")
    approved_by: str | None = Field(None, description="who approved the call, when one was needed")
    approval_note: str | None = Field(None, description="the approver's note")
    delegation: DelegationLink | None = Field(None, description="a delegate tool's task")
    attempt: int = Field(
        1, description="2: it was running when a long turn's run was lost, and ran again"
    )
    resumed_after_crash: bool = Field(
        False, description="it was running when a long turn's run was lost (a crash, a move)"
    )


class RecordedMessage(BaseModel):
    """One message of a model request, as the call record keeps it."""

    role: str
    content: str = Field("", description="cut to llm.record_chars")
    chars: int = Field(0, description="the content's length before it was cut")
    tool_calls: list[ToolCallRecord] = Field(
        default_factory=list, description="an assistant message's tool calls"
    )
    tool_call_id: str | None = Field(None, description="a tool result's call")


class CallRecord(BaseModel):
    """One request to the model: what the call log keeps and GET /chat/{id}/calls shows."""

    seq: int = Field(description="the turn it belonged to")
    at: datetime
    model: str
    agent: str | None = Field(None, description="the conversation's agent profile")
    task_id: str | None = Field(
        None, description="the delegated task this turn answers (a delegate's thread)"
    )
    request_id: str | None = Field(None, description="this request's own id (a random hex)")
    response_id: str | None = Field(None, description="the server's id of its answer")
    # The request and its answer, bounded (llm.record_*); empty when llm.record_content is off.
    content_recorded: bool = Field(False, description="whether the text below was kept")
    messages: list[RecordedMessage] = Field(
        default_factory=list, description="the request's messages: the first and the newest"
    )
    messages_sent: int = Field(0, description="messages the request had")
    answer: str | None = Field(None, description="the answer's text (cut)")
    purpose: Purpose = "reply"
    attempt: int = Field(1, description="1, then 2.. for retries of the same request")
    resumed: int = Field(
        0, description="a long turn's run started again after this many lost runs (crashes)"
    )
    stream: bool = False
    latency_ms: int = 0
    tokens_in: int | None = None
    tokens_out: int | None = None
    tool_calls: list[ToolCallRecord] = Field(default_factory=list)
    # invalid: the answer could not be used (unknown tool, bad arguments, empty) and was
    # followed by a repair request, or ended the turn once the repairs ran out.
    status: Literal["ok", "invalid", "error"] = "ok"
    error: str | None = None


# No '|' (Dapr's key separator), no '/', no spaces: nothing that can split a Redis key or a URL.
# Patterns that validate input are used with ``fullmatch``: ``match`` with ``^...$`` accepts a
# final newline ("user1\n"), since ``$`` also matches just before one.
USER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]*")
# An agent profile's name (the agents file's keys, a turn's ``agent``).
AGENT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


# A session's thread of one agent (docs/architecture.md, "Sessions and threads"). The default
# agent's thread is the session itself, the tutorial's conversation under the user id; another
# agent's is ``<session>~<agent>``. '~' is in neither a user id nor an agent name, so a thread
# id splits back into its parts, and no client can name a thread as a user id.
THREAD_SEP = "~"


def thread_id(session: str, agent: str | None, default: str) -> str:
    """The actor id of ``agent``'s thread in ``session`` (None or the default: the session)."""
    return session if agent is None or agent == default else f"{session}{THREAD_SEP}{agent}"


def split_thread(thread: str) -> tuple[str, str | None]:
    """(session, agent) of a thread id; agent None for a session's default thread."""
    session, sep, agent = thread.partition(THREAD_SEP)
    return session, (agent if sep else None)


def check_thread_id(thread: str, max_chars: int) -> str:
    """A thread id as the actors use it: a user id, or ``<user id>~<agent name>``."""
    session, agent = split_thread(thread)
    check_user_id(session, max_chars)
    if agent is not None and not AGENT_NAME.fullmatch(agent):
        raise InvalidUserId(f"{agent!r} is not an agent's name")
    return thread


def check_user_id(user_id: str, max_chars: int) -> str:
    if not user_id or len(user_id) > max_chars:
        raise InvalidUserId(f"a user id has 1 to {max_chars} characters (got {len(user_id)})")
    if not USER_ID.fullmatch(user_id):
        raise InvalidUserId(
            "a user id starts with a letter or digit and contains only letters, digits and "
            "'_', '.', '@', '-'"
        )
    return user_id


# Shorter and shorter caps tried on every text of a record that is over its budget.
CAPS = (1000, 400, 160, 60, 20)


def cut(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: max(0, chars - 1)] + "…"


def record_size(record: CallRecord) -> int:
    """The record's size as the state store keeps it (JSON, non-ASCII escaped)."""
    return len(json.dumps(record.model_dump(mode="json")))


def fit_record(record: CallRecord, max_bytes: int) -> CallRecord:
    """``record``, cut until its stored JSON is at most ``max_bytes`` (a copy when cut)."""
    if record_size(record) <= max_bytes:
        return record
    record = record.model_copy(deep=True)
    for cap in CAPS:
        for text in texts(record):
            text.cap(cap)
        if record_size(record) <= max_bytes:
            return record
    while len(record.messages) > 1 and record_size(record) > max_bytes:
        # The oldest after the system prompt go first: the newest say what was asked.
        del record.messages[1 if len(record.messages) > 2 else 0]
    # Only a pathological answer gets here (dozens of tool calls with huge names): the
    # record keeps its numbers, and as many of the calls as fit.
    while record.tool_calls and record_size(record) > max_bytes:
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
        if call.delegation is not None:
            yield _Text(call.delegation, "error")
    for message in record.messages:
        yield _Text(message, "content")
        for call in message.tool_calls:
            yield _Text(call, "arguments")
