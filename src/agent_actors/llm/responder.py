"""The responder port: everything ResponseAgent knows about how a reply is produced."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from agent_actors.llm.profiles import AgentProfile
from agent_actors.models import CallRecord, ChatMessage, DelegationLink, fit_record

if TYPE_CHECKING:
    from agent_actors.llm.approvals import PausedReply

# Searches this user's committed history: (query, limit) -> matching entries, newest first.
HistorySearch = Callable[[str, int], Awaitable[list[ChatMessage]]]


@dataclass(frozen=True)
class ReplyRequest:
    """What the reply is about: the user's message and what the actors know around it."""

    user_id: str
    seq: int
    message: ChatMessage
    memory: tuple[ChatMessage, ...] = ()
    recent: tuple[ChatMessage, ...] = ()
    count: int = 0
    # Where the reply's tokens go as they arrive (see ``streams.py``); None: nobody listens.
    stream_id: str | None = None
    # The conversation's agent profile (``profiles.py``); None: the settings alone (tests).
    profile: AgentProfile | None = None
    # Whether that profile is the book's default: the offline reply names any other one.
    default_profile: bool = True
    # The agents this turn may hand a task to (profiles.offered_delegates): each is a tool.
    delegates: tuple[AgentProfile, ...] = ()
    # The delegated task this turn answers (its records carry it); None: a user's turn.
    task_id: str | None = None
    # The turn as every run of it knows it (thread, seq, request): each tool call's
    # idempotency key derives from it and the call's place in the turn.
    turn_key: str | None = None


@dataclass(frozen=True)
class Delegated:
    """What came of one task handed to a delegate: its answer, or why there is none."""

    link: DelegationLink
    answer: str | None = None


class Delegate(Protocol):
    async def __call__(self, agent: str, text: str, position: str | None = None) -> Delegated:
        """Hand ``text`` to ``agent``'s thread of this session and wait for its answer, at
        most the caller's ``delegate_timeout_s`` (never raises for the delegate's failure).
        ``position``: where the call stands in the turn, so a run started again hands on the
        same task for it."""
        ...


class CallRecorder(Protocol):
    def record(self, call: CallRecord) -> None:
        """Keep one model request's record (final once ``reply`` returns or raises)."""


class StepSaver(Protocol):
    async def __call__(self, step: PausedReply) -> None:
        """Keep ``step`` (a model answer's tool calls and how far they got) durably before
        the reply goes on: a run started again after a crash goes on from there
        (``checkpoints.py``). Raises when the reply must not go on (its turn moved on)."""
        ...


@dataclass
class CallBuffer:
    """Records kept in memory until the actor saves them (with the turn, or alone when the
    turn failed: its model calls happened all the same).

    Each is cut to ``max_bytes`` as it comes (its share of a call-log page, ``models.fit_record``):
    before they reach the log, a turn's records travel in actor calls through daprd (a paused
    reply's, a long turn's outcome) and in its ``turn`` record, and uncut one may hold 24
    messages of 2,000 characters at up to 12 bytes each: a few of them would pass daprd's
    max body size."""

    max_bytes: int | None = None
    records: list[CallRecord] = field(default_factory=list)
    # A long turn's run started again after this many lost ones: its records say so.
    resumed: int = 0

    def record(self, call: CallRecord) -> None:
        call.resumed = self.resumed
        self.records.append(call if self.max_bytes is None else fit_record(call, self.max_bytes))


@dataclass(frozen=True)
class ReplyContext:
    """What the responder is given besides the request: where its model calls are recorded,
    and the search_history tool's reach beyond ``recent`` (None: ``recent`` only)."""

    calls: CallRecorder = field(default_factory=CallBuffer)
    search_history: HistorySearch | None = None
    # The whole reply's time budget when it is not the responder's own turn_timeout_s: a
    # long turn runs outside any actor call, with limits.long_turn_timeout_s.
    turn_timeout_s: float | None = None
    # Hands tasks to the request's delegates; None: delegation is not wired (unit tests).
    delegate: Delegate | None = None
    # Where a long turn's run keeps its progress through tool calls; None: a turn inside an
    # actor call, which dies with its caller and keeps nothing.
    steps: StepSaver | None = None


class Responder(Protocol):
    async def reply(self, request: ReplyRequest, context: ReplyContext) -> str: ...
