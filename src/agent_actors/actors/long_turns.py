"""ChatAgent's long turns: a reply written outside any actor call, and approvals.

A long turn reserves its seq (``meta.open_turn``, the ``turn`` key: ``turn_record.py``) and
its reply is written by a background run in the app (``turn_runner.py``), so it may take
longer than an actor call may and holds no lock while the model works: history reads go on,
and a new turn of the user gets a 409 ``turn_in_progress`` until it is over. Each step here is
a short call under ChatAgent's turn lock:

    StartTurn       reserve the seq, arm the reminder, save, start the run      -> pending
    SaveStep        the run's progress through a model answer's tool calls, only if
                    the turn still waits for that run (llm/checkpoints.py)
    EndRun          the run's result, only if the turn still waits for that run:
                    a reply is committed as any turn is (history, outbox, index) -> done
                    a tool call that needs approval                     -> awaiting_approval
                    an error                                            -> failed
    DecideApproval  a person's decision on the call named (the one waiting); a new run
                    resumes the reply                                           -> pending
                    the same decision again: the same answer, nothing changes; another
                    call named, or another decision on a decided call: approval_stale
    the reminder    (every limits.turn_check_s, in Dapr's scheduler: it survives restarts;
                    due at the deadline while an approval waits)
                    a pending turn whose run is not in this process any more (the app
                    crashed, the actor moved) -> a new run here, from the turn's start,
                    its decided approval or its run's last step (no tool call with a
                    recorded result runs again; one that was running runs again once, or,
                    not idempotent, waits for a person), up to limits.long_turn_resumes
                    times, then failed, turn_interrupted; an approval past its deadline
                    -> denied, and the reply resumes; no open turn -> it drops itself
    GetTurn         pending / awaiting_approval / done (from the history) / failed

A failed turn saves nothing but its model-call records; its seq goes to the next turn.
ChatAgent holds a ``LongTurns`` and calls it from those methods and from the reminder; the
commit of a reply is ChatAgent's own, as for any turn.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

from dapr.actor import Actor

from agent_actors import logs, metrics
from agent_actors.actors import turn_runner
from agent_actors.actors.conversation import Conversation
from agent_actors.actors.interfaces import (
    ApprovalAnswer,
    PausedJob,
    RecordJob,
    ReplyJob,
    RunOutcome,
    StepJob,
    TurnError,
    TurnReply,
    TurnRequest,
    TurnView,
)
from agent_actors.actors.proxies import ResponseAgentClient
from agent_actors.actors.services import ActorDeps
from agent_actors.actors.turn_record import LONG_TURN_REMINDER, TURN_KEY, LongTurn
from agent_actors.errors import (
    ActorUnavailable,
    ApprovalStale,
    NotAwaitingApproval,
    TurnNotFound,
)
from agent_actors.llm.approvals import Decision
from agent_actors.models import CallRecord, fit_record
from agent_actors.sidecar.actor_runtime import StateLoader
from agent_actors.store.state import RECENT_APPROVALS, ChatMeta, DecidedCall

log = logging.getLogger(__name__)


class LongTurns:
    def __init__(
        self, actor: Actor, deps: ActorDeps, conversation: Conversation, load: StateLoader
    ) -> None:
        self._actor = actor
        self._deps = deps
        self._conversation = conversation
        # How a run reads the user's other actors' saved state (Memory's window).
        self._load = load
        self._user = actor.id.id

    # -- the steps of ChatAgent's methods ----------------------------------------------------

    async def start(self, meta: ChatMeta, request: TurnRequest, job: ReplyJob) -> TurnReply:
        """StartTurn's new turn: reserved, then its run started."""
        turn = LongTurn.of(request, job, self._deps.clock())
        turn.run_id, turn.runs = uuid.uuid4().hex, 1
        await self._open(meta, turn)
        log.info("turn user=%s seq=%d: long turn started", self._user, turn.seq)
        turn_runner.start(self._deps, self._user, self._load, turn)
        return TurnReply(role="assistant", content="", seq=turn.seq, turn=turn.view())

    async def pause(
        self, meta: ChatMeta, request: TurnRequest, job: ReplyJob, paused: PausedJob
    ) -> TurnReply:
        """ProcessMessage's reply stopped before a tool call that needs approval: the turn
        becomes a long one, awaiting that approval (the caller gets a 202)."""
        # The stream it had is the route's, which answers now and closes it.
        stream_off = job.model_copy(update={"stream_id": None})
        turn = LongTurn.of(request, stream_off, self._deps.clock())
        turn.await_approval(paused.paused, self._fitted(paused.records), self._approval_deadline())
        await self._open(meta, turn)
        await self._arm_deadline(turn)
        self._log_awaiting(turn)
        return TurnReply(role="assistant", content="", seq=job.seq, turn=turn.view())

    async def view(self, meta: ChatMeta, seq: int) -> TurnView:
        """GetTurn of a turn not committed: the open one, or the last that failed."""
        turn = await self._conversation.turn_record() if seq == meta.turns + 1 else None
        if turn is None or turn.seq != seq:
            raise TurnNotFound(f"this conversation has no turn {seq} ({meta.turns} committed)")
        return turn.view()

    async def decide(self, meta: ChatMeta, asked: ApprovalAnswer) -> TurnView:
        """DecideApproval: a person's decision on the call the open turn waits for."""
        decided = meta.decided(asked.seq, asked.call_id)
        if decided is not None:
            # Sent again (a lost answer retried, a second click): the same answer as the
            # first time, whatever the turn did since; anything else about the call is stale.
            if decided.same(asked.approve, asked.note):
                return TurnView(seq=asked.seq, status="pending")
            raise ApprovalStale(
                f"call {asked.call_id} of turn {asked.seq} was already "
                f"{'approved' if decided.approve else 'denied'} by {decided.by}; this "
                "approval differs from that decision and changes nothing"
            )
        if 1 <= asked.seq <= meta.turns:
            raise NotAwaitingApproval(f"turn {asked.seq} is done; it awaits no approval")
        turn = await self._conversation.open_turn(meta)
        if turn is None or turn.seq != asked.seq:
            raise TurnNotFound(f"this conversation has no open turn {asked.seq}")
        if turn.status != "awaiting_approval":
            raise NotAwaitingApproval(
                f"turn {asked.seq} is {turn.status.replace('_', ' ')}, not awaiting an approval "
                "(already decided?)"
            )
        if asked.call_id != turn.asked_call_id:
            raise ApprovalStale(
                f"turn {asked.seq} awaits a decision on call {turn.asked_call_id}, not "
                f"{asked.call_id}: GET /chat/{{id}}/turns/{asked.seq} shows it; nothing was "
                "decided"
            )
        if self._deps.clock() >= turn.approval_deadline:
            # Past the deadline the call is denied, whether or not the reminder came first.
            await self._deny_at_deadline(meta, turn)
            raise ApprovalStale(
                f"the approval of call {asked.call_id} came after its deadline: the call was "
                "denied; nothing else was decided"
            )
        decision = Decision(approve=asked.approve, note=asked.note, by=asked.by)
        await self._resume(meta, turn, decision)
        # The reminder was due at the deadline: the run now going on is checked every
        # turn_check_s again, so a lost one starts again that soon, not at the old deadline.
        await self._arm_reminder(self._deps.settings.limits.turn_check_s, "its period")
        return turn.view()

    async def ended_by(self, meta: ChatMeta, got: RunOutcome) -> LongTurn | None:
        """EndRun: the open turn ``got`` ends, or None if it is not that run's to end."""
        # The conversation deleted, the turn failed (its run taken for lost) or another run
        # owning it: this result must not be committed, nor its calls recorded.
        turn = await self._run_turn(meta, got.seq, got.run_id, "its result is dropped")
        if turn is not None:
            logs.bind(user=self._user, seq=turn.seq)
        return turn

    async def save_step(self, meta: ChatMeta, got: StepJob) -> bool:
        """SaveStep: keep the run's checkpoint with the turn, if the turn still waits for
        that run (False: it does not, and the run must stop before its next tool call)."""
        turn = await self._run_turn(meta, got.seq, got.run_id, "its step is not kept")
        if turn is None:
            return False
        turn.paused, turn.records = got.step, self._fitted(got.records)
        await self._save_turn(None, turn)
        return True

    async def _run_turn(self, meta: ChatMeta, seq: int, run_id: str, what: str) -> LongTurn | None:
        """The open turn ``seq`` if it waits for run ``run_id``; None (logged: ``what`` comes
        of the run's call) if not."""
        turn = await self._conversation.open_turn(meta)
        if turn is not None and turn.seq == seq and turn.run_id == run_id:
            return turn
        log.warning(
            "user=%s seq=%d: run %s is not its turn's any more (the turn ended, or a newer run "
            "owns it): %s",
            self._user,
            seq,
            run_id,
            what,
        )
        return None

    async def close(self, meta: ChatMeta, turn: LongTurn, got: RunOutcome) -> None:
        """Before ``turn``'s reply is committed (by ChatAgent, as any turn is): its calls
        recorded, its reservation and record gone, staged with the commit."""
        await self._conversation.check_not_moved_on(meta)
        # First ResponseAgent's count and the calls (once per run: a retried EndRun records
        # nothing twice), then the turn, as ProcessMessage does.
        records = self._fitted(got.records)
        job = RecordJob(seq=turn.seq, run_id=turn.run_id, replied=True, records=records)
        await ResponseAgentClient(self._deps.proxies, self._user).record_reply(job)
        meta.open_turn = 0
        await self._conversation.state.try_remove_state(TURN_KEY)

    async def stop(self, meta: ChatMeta, turn: LongTurn, got: RunOutcome) -> None:
        """A run that ended without a reply: paused for an approval, or failed."""
        records = self._fitted(got.records)
        if got.paused is not None:
            turn.await_approval(got.paused, records, self._approval_deadline())
            await self._save_turn(None, turn)
            await self._arm_deadline(turn)
            self._log_awaiting(turn)
            return
        error = got.error or TurnError(code="internal_error", detail="the run failed")
        await self._fail(meta, turn, error, records)

    async def disarm(self) -> None:
        """No turn is open any more: the reminder goes."""
        try:
            async with asyncio.timeout(self._deps.settings.limits.post_commit_timeout_s):
                await self._actor.unregister_reminder(LONG_TURN_REMINDER)
        except Exception as exc:
            # It fires again, finds no open turn and tries again: harmless.
            log.info("user=%s: the long-turn reminder stays for now: %r", self._user, exc)

    # -- the reminder ------------------------------------------------------------------------

    async def tick(self) -> None:
        try:
            meta = await self._conversation.meta()
            turn = await self._conversation.open_turn(meta)
            if turn is None:
                await self.disarm()
                return
            if turn.status == "awaiting_approval":
                if self._deps.clock() >= turn.approval_deadline:
                    await self._deny_at_deadline(meta, turn)
                return
            if self._deps.runs.running(self._user, turn.run_id):
                return
            if turn.resumed < self._deps.settings.limits.long_turn_resumes:
                await self._start_again(turn)
                return
            log.warning(
                "user=%s seq=%d: the run of this long turn is gone (the app restarted or the "
                "actor moved) %d times: the turn fails",
                self._user,
                turn.seq,
                turn.resumed + 1,
            )
            error = TurnError(
                code="turn_interrupted",
                detail="the run writing this turn's reply was lost (its app stopped, or the "
                "actor moved) before its result was saved; nothing of it was saved: send the "
                "message again",
            )
            await self._fail(meta, turn, error, turn.records, run_id=f"{turn.run_id}-lost")
            self._deps.runs.changed(self._user)
        except BaseException:
            await self._conversation.state.clear_cache()
            raise  # the reminder fires again

    async def _start_again(self, turn: LongTurn) -> None:
        """A new run for a pending turn whose run was lost: from the turn's start, or from its
        decided approval (``paused``), here, where the user's actors are now."""
        turn.run_id, turn.runs, turn.resumed = uuid.uuid4().hex, turn.runs + 1, turn.resumed + 1
        await self._save_turn(None, turn)
        log.warning(
            "user=%s seq=%d: the run of this long turn was lost (the app restarted or the "
            "actor moved): started again (%d of %d)",
            self._user,
            turn.seq,
            turn.resumed,
            self._deps.settings.limits.long_turn_resumes,
        )
        metrics.LONG_TURNS_RESUMED.inc()
        turn_runner.start(self._deps, self._user, self._load, turn)
        self._deps.runs.changed(self._user)

    async def _arm_deadline(self, turn: LongTurn) -> None:
        """The reminder due at the approval's deadline (then every turn_check_s), so a call
        nobody decides is denied at that second, not at the next periodic check."""
        due = max(turn.approval_deadline - self._deps.clock(), 0.0)
        await self._arm_reminder(due, "the approval deadline")

    async def _arm_reminder(self, due_s: float, what: str) -> None:
        """The reminder due in ``due_s``, then every turn_check_s. Not fatal: the reminder
        armed before still comes (the periodic one, or the one due at the deadline)."""
        period = timedelta(seconds=self._deps.settings.limits.turn_check_s)
        try:
            async with asyncio.timeout(self._deps.settings.limits.post_commit_timeout_s):
                await self._actor.register_reminder(
                    LONG_TURN_REMINDER, b"{}", timedelta(seconds=due_s), period
                )
        except Exception as exc:
            log.info("user=%s: the reminder was not moved to %s: %r", self._user, what, exc)

    # -- steps -------------------------------------------------------------------------------

    async def _open(self, meta: ChatMeta, turn: LongTurn) -> None:
        """Reserve ``turn``'s seq: its reminder first (a turn no reminder covers could stay
        pending for ever), then its state, with meta, in one transaction."""
        await self._conversation.check_not_moved_on(meta)
        period = timedelta(seconds=self._deps.settings.limits.turn_check_s)
        try:
            async with asyncio.timeout(self._deps.settings.limits.post_commit_timeout_s):
                await self._actor.register_reminder(LONG_TURN_REMINDER, b"{}", period, period)
        except Exception as exc:
            raise ActorUnavailable(
                "the scheduler did not take the long turn's reminder; nothing was saved",
                cause=repr(exc),
            ) from exc
        meta.open_turn = turn.seq
        await self._save_turn(meta, turn)

    async def _save_turn(self, meta: ChatMeta | None, turn: LongTurn) -> None:
        if meta is not None:
            await self._conversation.history.save_meta(meta)
        state = self._conversation.state
        await state.set_state(TURN_KEY, turn.model_dump(mode="json"))
        await state.save_state()

    async def _deny_at_deadline(self, meta: ChatMeta, turn: LongTurn) -> None:
        timeout = self._deps.settings.limits.approval_timeout_s
        log.info("user=%s seq=%d: approval deadline passed", self._user, turn.seq)
        note = f"no decision within {timeout:g} s"
        await self._resume(meta, turn, Decision(approve=False, note=note, by="deadline"))

    async def _resume(self, meta: ChatMeta, turn: LongTurn, decision: Decision) -> None:
        """Record ``decision`` (on the turn, and in meta's recent approvals) and start the run
        that goes on with the reply."""
        assert turn.paused is not None
        # meta is saved below: never from a stale copy (another replica committed meanwhile).
        await self._conversation.check_not_moved_on(meta)
        turn.note_decision(decision)
        turn.paused = turn.paused.decided(decision)
        decided = DecidedCall(
            seq=turn.seq,
            call_id=turn.asked_call_id,
            approve=decision.approve,
            note_sha=DecidedCall.digest(decision.note),
            by=decision.by,
        )
        meta.recent_approvals = [*meta.recent_approvals, decided][-RECENT_APPROVALS:]
        turn.status, turn.run_id, turn.runs = "pending", uuid.uuid4().hex, turn.runs + 1
        await self._save_turn(meta, turn)
        log.info(
            "user=%s seq=%d: %s %s (by %s)",
            self._user,
            turn.seq,
            "approved" if decision.approve else "denied",
            turn.paused.asked.name,
            decision.by,
        )
        turn_runner.start(self._deps, self._user, self._load, turn)
        self._deps.runs.changed(self._user)

    async def _fail(
        self,
        meta: ChatMeta,
        turn: LongTurn,
        error: TurnError,
        records: list[CallRecord],
        run_id: str | None = None,
    ) -> None:
        """End ``turn`` as failed: nothing saved but its model calls' records."""
        await self._conversation.check_not_moved_on(meta)
        if records:
            job = RecordJob(
                seq=turn.seq, run_id=run_id or turn.run_id, replied=False, records=records
            )
            await ResponseAgentClient(self._deps.proxies, self._user).record_reply(job)
        turn.status, turn.error, turn.run_id = "failed", error, ""
        turn.paused, turn.records = None, []
        meta.open_turn = 0
        await self._save_turn(meta, turn)
        log.warning("user=%s seq=%d: long turn failed: %s", self._user, turn.seq, error.code)
        await self.disarm()

    def _approval_deadline(self) -> float:
        return self._deps.clock() + self._deps.settings.limits.approval_timeout_s

    def _log_awaiting(self, turn: LongTurn) -> None:
        asked = turn.paused.asked.name if turn.paused is not None else "?"
        log.info("user=%s seq=%d: waiting for an approval of %s", self._user, turn.seq, asked)

    def _fitted(self, records: list[CallRecord]) -> list[CallRecord]:
        """Records as the call log would store them: the turn's state stays bounded."""
        llm = self._deps.settings.llm
        budget = llm.calls_page_bytes // llm.calls_page_size
        return [fit_record(r, budget) for r in records]
