"""A long turn as ChatAgent keeps it (state key ``turn``) while it is not over.

A long turn is one whose reply is written outside any actor call: asked for with
``Prefer: respond-async``, or any turn whose model asked for a tool that needs a person's
approval. Its seq is reserved when it starts (``meta.open_turn``), so the user's turns stay
in order; it ends committed (the record is removed: the history has it) or failed (the
record stays, for ``GET /chat/{id}/turns/{seq}``, until the next turn takes that seq).
"""

from __future__ import annotations

import uuid

from pydantic import BaseModel, Field

from agent_actors.actors.interfaces import (
    ApprovalView,
    ReplyJob,
    TurnError,
    TurnRequest,
    TurnStatus,
    TurnView,
)
from agent_actors.llm.approvals import APPROVAL_REASON, Decision, PausedReply
from agent_actors.models import CallRecord

TURN_KEY = "turn"
# Drives every long turn of a user: starts again one whose run was lost (the app crashed), denies
# an approval past its deadline (due at that second while one waits), and drops itself once no
# turn is open.
LONG_TURN_REMINDER = "long-turn"


class LongTurn(BaseModel):
    seq: int
    status: TurnStatus
    # What the reply is written from (message, recent history, agent), as ChatAgent gave it.
    job: ReplyJob
    request_id: str | None = None
    idempotency_key: str | None = None
    created_at: float = 0.0
    # The background run allowed to end this turn ("": none runs). A run that finds another
    # id (a newer run, a delete, a failure) commits nothing: at most one result is committed.
    run_id: str = ""
    runs: int = 0
    # Runs started again because the one before was lost (limits.long_turn_resumes).
    resumed: int = 0
    # Where the reply goes on from: the answer whose calls wait for (or got) a decision, or,
    # while a run works (``pending``), its latest checkpoint (llm/checkpoints.py): a run
    # started again goes on from there, and no tool call with a result runs again.
    paused: PausedReply | None = None
    # The id of the call awaiting a decision, new at each pause: an approval must name it,
    # so a retried or stale one never decides on a call its sender did not see.
    asked_call_id: str = ""
    approval_deadline: float = 0.0
    # The turn's model calls so far: saved to ResponseAgent's call log when the turn ends.
    records: list[CallRecord] = Field(default_factory=list)
    error: TurnError | None = None

    @classmethod
    def of(cls, request: TurnRequest, job: ReplyJob, now: float) -> LongTurn:
        """A new long turn, pending since ``now``: ``request``'s, its reply to be written
        from ``job``."""
        return cls(
            seq=job.seq,
            status="pending",
            job=job,
            request_id=request.request_id,
            idempotency_key=request.idempotency_key,
            created_at=now,
        )

    def await_approval(
        self, paused: PausedReply, records: list[CallRecord], deadline: float
    ) -> None:
        """Stop, no run going, for a decision on ``paused``'s call until ``deadline``."""
        self.status, self.paused, self.records = "awaiting_approval", paused, records
        self.run_id, self.approval_deadline = "", deadline
        # Random, not the model's id (servers repeat theirs: "call_1" in every answer), nor a
        # count (a failed turn's seq is taken again by the next turn).
        self.asked_call_id = uuid.uuid4().hex[:16]

    @property
    def open(self) -> bool:
        return self.status in ("pending", "awaiting_approval")

    def view(self) -> TurnView:
        approval = None
        if self.status == "awaiting_approval" and self.paused is not None:
            asked = self.paused.asked
            approval = ApprovalView(
                call_id=self.asked_call_id,
                tool=asked.grant or asked.name,
                arguments=asked.arguments,
                deadline=self.approval_deadline,
                reason=self.paused.reason or APPROVAL_REASON,
            )
        return TurnView(
            seq=self.seq,
            status=self.status,
            error=self.error,
            approval=approval,
            resumed=self.resumed,
        )

    def note_decision(self, decision: Decision) -> None:
        """Mark the decided call in the record of the model answer that asked for it: who
        approved it (or that it was denied, by whom) and the note."""
        if self.paused is None or not self.records:
            return
        seen = self.records[-1].tool_calls
        index = self.paused.asking
        if index >= len(seen) or not self.paused.asked.name.startswith(seen[index].name):
            return
        seen[index].approval_note = decision.note or None
        if decision.approve:
            seen[index].approved_by = decision.by
        else:
            seen[index].error = f"denied by {decision.by}"
