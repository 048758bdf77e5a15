"""Typed actor state and its key layout.

Dapr stores each key as ``agent-actors||<ActorType>||<actor id>||<key>`` in Redis.

ChatAgent (id ``user1``)
    ``meta``            ChatMeta: committed turns (= last seq), published seq, page size,
                        the conversation's id and agent profile, the newest approvals
    ``idempotency``     IdempotencyLog: the newest Idempotency-Key values and their turns
    ``turn``            LongTurn (``turn_record.py``): the long turn not over, or the last one
                        that failed (until the next turn takes its seq)
    ``history-<n>``     HistoryPage n: entries ``n*page_size .. (n+1)*page_size - 1``
ResponseAgent (id ``user1``, as for all three types: models.ActorTypes)
    ``stats``           ResponseStats: replies given, last seq answered
    ``calls-meta``      CallLogMeta: model calls recorded so far, page size
    ``calls-<n>``       CallPage: a ring of pages of CallRecords (``store/call_log.py``)
MemoryAgentActor (id ``user1``)
    ``memory``          MemoryState: the bounded window, last applied seq

A turn writes ``meta`` and one (at a page boundary two) bounded pages in one transaction, so
its cost does not grow with the conversation. Values are read into fresh pydantic objects, so
a method never mutates the SDK's state cache in place (it keeps that cache after a failure).
"""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, Field

from agent_actors.models import CallRecord, ChatMessage


class DecidedCall(BaseModel):
    """A decision taken on a tool call (an approval, or the deadline's denial): the same
    approval sent again gets the same answer, and any other one about the call is stale."""

    seq: int
    call_id: str
    approve: bool
    # The note's SHA-256 (16 hex digits): the same approval has the same note, and meta (read
    # by every turn) does not grow by the notes.
    note_sha: str
    by: str

    @staticmethod
    def digest(note: str) -> str:
        return hashlib.sha256(note.encode("utf-8", "surrogatepass")).hexdigest()[:16]

    def same(self, approve: bool, note: str) -> bool:
        return self.approve == approve and self.note_sha == self.digest(note)


# Decisions meta keeps: a turn asks about one call at a time, so these cover the retries of
# any recent approval (an older one, if ever sent again, is stale or not awaited: a 409).
RECENT_APPROVALS = 16


class ChatMeta(BaseModel):
    turns: int = 0
    published_seq: int = 0
    page_size: int = 20
    # Period of the registered outbox reminder; 0: none registered.
    outbox_period_s: float = 0.0
    # Reminder registrations that failed (each is retried on the next turn).
    outbox_arm_failures: int = 0
    # A random id given at the first turn: events carry it, so one of a deleted conversation
    # (arriving late) is never applied to a new conversation of the same user.
    conversation: str = ""
    # Unix times of the first and the latest committed turn.
    created_at: float = 0.0
    last_activity: float = 0.0
    # The retention reminder is registered (AGENT_ACTORS_LIMITS__RETENTION_S): armed once.
    retention_armed: bool = False
    # The session index bucket this conversation is listed in (0: not yet).
    indexed_bucket: int = 0
    # The request ids of the newest turns (the API gives every request one), each with its
    # seq: daprd can deliver one actor call twice (its retries when an actor moves while the
    # call is in flight), and a second delivery must return the committed turn, not add one.
    recent_requests: list[tuple[str, int]] = Field(default_factory=list)
    # The agent profile picked at the first turn ("": a conversation from before profiles,
    # answered by the default one).
    agent: str = ""
    # The seq of a long turn that is reserved and not over (key ``turn`` holds it); 0: none.
    # Kept here so that an ordinary turn learns there is none without another read.
    open_turn: int = 0
    # The newest decisions on tool calls (RECENT_APPROVALS), whichever turn they were in.
    recent_approvals: list[DecidedCall] = Field(default_factory=list)

    def decided(self, seq: int, call_id: str) -> DecidedCall | None:
        return next(
            (d for d in self.recent_approvals if d.seq == seq and d.call_id == call_id), None
        )

    @property
    def entries(self) -> int:
        return self.turns * 2

    @property
    def pending(self) -> range:
        """Seqs of committed turns whose ConversationUpdated is not yet published."""
        return range(self.published_seq + 1, self.turns + 1)


class IdempotencyRecord(BaseModel):
    key: str
    seq: int
    # sha256 of the message it answered: the same key with another message is a conflict.
    fingerprint: str


class IdempotencyLog(BaseModel):
    records: list[IdempotencyRecord] = Field(default_factory=list)

    def find(self, key: str) -> IdempotencyRecord | None:
        return next((r for r in self.records if r.key == key), None)

    def remember(self, record: IdempotencyRecord, keep: int) -> None:
        self.records.append(record)
        del self.records[: max(0, len(self.records) - keep)]


class HistoryPage(BaseModel):
    entries: list[ChatMessage] = Field(default_factory=list)
    # Unix time each entry was committed, aligned with ``entries`` (older pages: shorter).
    at: list[float] = Field(default_factory=list)


class ResponseStats(BaseModel):
    count: int = 0
    last_seq: int = 0
    # The last long-turn run whose calls were recorded (RecordReply is once per run).
    last_run: str = ""


class MemoryState(BaseModel):
    # ChatMeta.conversation of the turns in the window ("" before conversations had ids).
    conversation: str = ""
    # The last ``memory_window`` entries of turns 1..last_seq: nothing is ever skipped (a gap
    # is filled from ChatAgent's committed history), so no reorder buffer is kept.
    window: list[ChatMessage] = Field(default_factory=list)
    last_seq: int = 0


class CallLogMeta(BaseModel):
    total: int = 0
    page_size: int = 20


class CallPage(BaseModel):
    number: int = Field(-1, description="which logical page the ring slot holds now")
    records: list[CallRecord] = Field(default_factory=list)


MEMORY_KEY = "memory"


def page_key(page: int) -> str:
    return f"history-{page}"
