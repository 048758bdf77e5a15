"""The actors' contracts: snake_case in Python, PascalCase on the wire (the tutorial's names),
and the typed payloads that cross them (callers use ``clients.py``, never these directly).

Every method returns an envelope, ``{"ok": value}`` or ``{"error": {"code", "message"}}``
(see ``boundary.py``): the SDK turns a raised exception into a bare 500, which would lose the
domain error's code on its way back through daprd. Payloads travel as JSON objects (the SDK
passes one argument); each side validates them into these models.
"""

from __future__ import annotations

from typing import Any, Literal

from dapr.actor import ActorInterface, actormethod
from pydantic import BaseModel, Field

from agent_actors.llm.approvals import PausedReply
from agent_actors.models import CallRecord, ChatMessage, Role

Envelope = dict[str, Any]


class TaskRef(BaseModel):
    """The delegated task a turn answers: its id (also the turn's idempotency key) and the
    agents it came through (``DelegationTask.chain``)."""

    task_id: str
    chain: list[str] = Field(default_factory=list)


class TurnRequest(BaseModel):
    """ChatAgent.ProcessMessage: one user message, as the API validated it."""

    role: Role = "user"
    content: str
    # POST /chat/{id}/stream: where ResponseAgent sends the tokens (streams/hub.py).
    stream_id: str | None = None
    idempotency_key: str | None = None
    # One per HTTP request (the API's): a second delivery of the same call is not a new turn.
    request_id: str | None = None
    # The agent profile the conversation starts with (its first turn) or must already have;
    # None: the default at the first turn, the conversation's own later.
    agent: str | None = None
    # A delegate's turn: the task it answers (None: a user's turn).
    task: TaskRef | None = None


class TurnError(BaseModel):
    code: str = Field(description="the error's stable code, as a failed POST would have it")
    detail: str


class ApprovalView(BaseModel):
    call_id: str = Field(
        description="the waiting call's id: the approval names it (another id: 409 "
        "approval_stale); each call asked about has its own"
    )
    tool: str = Field(description="the tool the model asked to call")
    arguments: str = Field(description="its arguments: the JSON text the model wrote")
    deadline: float = Field(description="Unix time after which the call is denied")
    reason: str = Field(
        "",
        description="why it waits: its tool needs approval, or it was running when the turn's "
        "run was lost and its tool is not idempotent",
    )


TurnStatus = Literal["pending", "awaiting_approval", "done", "failed"]


class TurnView(BaseModel):
    """A turn as ``GET /chat/{id}/turns/{seq}`` shows it."""

    seq: int
    status: TurnStatus
    response: ChatMessage | None = Field(None, description="the committed reply (done)")
    error: TurnError | None = Field(None, description="why it failed (failed)")
    approval: ApprovalView | None = Field(
        None, description="the tool call waiting for a person (awaiting_approval)"
    )
    resumed: int = Field(
        0, description="runs started again after the one before was lost (a crash, a move)"
    )


class TurnReply(BaseModel):
    """The committed turn: the reply, its seq, and whether it was a repeat (Idempotency-Key);
    or, with ``turn``, a turn that is not over (a long turn, or one waiting for an approval)."""

    role: Role
    content: str
    seq: int
    replayed: bool = False
    turn: TurnView | None = None


class TurnQuery(BaseModel):
    seq: int


class ApprovalAnswer(BaseModel):
    """ChatAgent.DecideApproval: a person's decision on the tool call ``call_id`` of turn
    ``seq`` (the one it waits for, or one decided already: then the same decision again)."""

    seq: int
    call_id: str
    approve: bool
    note: str = ""
    by: str = "anonymous"


class RunOutcome(BaseModel):
    """ChatAgent.EndRun: what a long turn's background run came to (exactly one of reply,
    paused, error), and the model calls it made."""

    seq: int
    run_id: str
    reply: ChatMessage | None = None
    paused: PausedReply | None = None
    error: TurnError | None = None
    records: list[CallRecord] = Field(default_factory=list)


class StepJob(BaseModel):
    """ChatAgent.SaveStep: how far a long turn's run got through a model answer's tool calls
    (``llm/checkpoints.py``), and the turn's model calls so far; kept only while the turn
    waits for that run. A run started again after a crash goes on from it."""

    seq: int
    run_id: str
    step: PausedReply
    records: list[CallRecord] = Field(default_factory=list)


class PausedJob(BaseModel):
    """ResponseAgent.ProcessMessage's answer when the reply stopped before a tool call that
    needs approval: nothing saved; ChatAgent keeps it (and the calls so far) with the turn."""

    paused: PausedReply
    records: list[CallRecord] = Field(default_factory=list)


class RecordJob(BaseModel):
    """ResponseAgent.RecordReply: a long turn's model calls and, when it committed, its reply
    to count; once per run (a retried call records nothing twice)."""

    seq: int
    run_id: str
    replied: bool
    records: list[CallRecord] = Field(default_factory=list)


class HistoryQuery(BaseModel):
    limit: int | None = None
    before: int | None = None


class HistoryView(BaseModel):
    history: list[ChatMessage]
    total: int
    next_before: int | None = None
    pending_events: int = 0


class ReplyJob(BaseModel):
    """ResponseAgent.ProcessMessage: what ChatAgent knows of the turn it needs a reply for."""

    seq: int
    message: ChatMessage
    recent: list[ChatMessage] = Field(default_factory=list)
    # The older part of the prompt history, left out to keep this payload under daprd's max
    # body size: entries [earlier_start, earlier_end) of the committed history, which
    # ResponseAgent reads from the state store and puts before ``recent``.
    earlier_start: int = 0
    earlier_end: int = 0
    stream_id: str | None = None
    # The conversation's agent profile ("": the default, a ChatAgent from before profiles).
    agent: str = ""
    task: TaskRef | None = None
    # The turn's request (TurnRequest.request_id): the same request run again (a retried actor
    # call, a long turn resumed) hands its delegates the same task ids.
    request_id: str | None = None


class CallsQuery(BaseModel):
    limit: int = 20
    before: int | None = None


class CallsView(BaseModel):
    calls: list[CallRecord]
    total: int
    next_before: int | None = None


class CatchUpQuery(BaseModel):
    up_to: int | None = None


class MemoryView(BaseModel):
    memory: list[ChatMessage] = Field(description="the window, oldest first")
    last_seq: int = Field(description="the last turn memory reflects")
    turns: int = Field(description="turns ChatAgent has committed")
    applied: int = Field(0, description="turns this call applied")


class MemoryUpdate(BaseModel):
    """What UpdateMemory did with an event."""

    status: str
    applied: int
    last_seq: int


class SessionSummary(BaseModel):
    """ChatAgent.GetSummary: the conversation's own numbers (no other actor's)."""

    turns: int = Field(description="committed turns (the last seq)")
    pending_events: int = Field(description="committed turns whose event is not published yet")
    created_at: float | None = Field(None, description="Unix time of the first turn")
    last_activity: float | None = Field(None, description="Unix time of the latest turn")
    agent: str | None = Field(
        None, description="the agent profile the conversation picked (none before a turn)"
    )


class ExportQuery(BaseModel):
    start: int = Field(0, ge=0, description="the first entry")
    limit: int = Field(20, ge=1)


class ExportEntry(BaseModel):
    index: int = Field(description="position in the conversation, from 0")
    seq: int = Field(description="the turn it belongs to")
    role: Role
    content: str
    at: float | None = Field(None, description="Unix time of its commit (unknown: older turns)")


class ExportPage(BaseModel):
    entries: list[ExportEntry]
    total: int = Field(description="entries in the conversation")


class ChatAgentInterface(ActorInterface):
    @actormethod(name="Delete")
    async def delete(self) -> Envelope: ...

    @actormethod(name="GetSummary")
    async def get_summary(self) -> Envelope: ...

    @actormethod(name="ExportEntries")
    async def export_entries(self, query: dict[str, Any]) -> Envelope: ...

    @actormethod(name="ProcessMessage")
    async def process_message(self, user_input: dict[str, Any]) -> Envelope: ...

    @actormethod(name="GetConversationHistory")
    async def get_conversation_history(self, query: dict[str, Any]) -> Envelope: ...

    @actormethod(name="StartTurn")
    async def start_turn(self, user_input: dict[str, Any]) -> Envelope: ...

    @actormethod(name="GetTurn")
    async def get_turn(self, query: dict[str, Any]) -> Envelope: ...

    @actormethod(name="DecideApproval")
    async def decide_approval(self, answer: dict[str, Any]) -> Envelope: ...

    @actormethod(name="EndRun")
    async def end_run(self, outcome: dict[str, Any]) -> Envelope: ...

    @actormethod(name="SaveStep")
    async def save_step(self, job: dict[str, Any]) -> Envelope: ...


class ResponseAgentInterface(ActorInterface):
    @actormethod(name="Delete")
    async def delete(self) -> Envelope: ...

    @actormethod(name="ProcessMessage")
    async def process_message(self, request: dict[str, Any]) -> Envelope: ...

    @actormethod(name="GetMessageCount")
    async def get_message_count(self) -> Envelope: ...

    @actormethod(name="GetCalls")
    async def get_calls(self, query: dict[str, Any]) -> Envelope: ...

    @actormethod(name="RecordReply")
    async def record_reply(self, job: dict[str, Any]) -> Envelope: ...


class MemoryAgentInterface(ActorInterface):
    @actormethod(name="Delete")
    async def delete(self) -> Envelope: ...

    @actormethod(name="UpdateMemory")
    async def update_memory(self, event: dict[str, Any]) -> Envelope: ...

    @actormethod(name="GetMemory")
    async def get_memory(self) -> Envelope: ...

    @actormethod(name="CatchUp")
    async def catch_up(self, query: dict[str, Any]) -> Envelope: ...

    @actormethod(name="Rebuild")
    async def rebuild(self) -> Envelope: ...

    @actormethod(name="GetStatus")
    async def get_status(self) -> Envelope: ...

    @actormethod(name="ScheduleCatchUp")
    async def schedule_catch_up(self) -> Envelope: ...
