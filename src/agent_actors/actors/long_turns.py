"""ChatAgent's long turns: a reply written outside any actor call, and approvals.

A long turn reserves its seq (``meta.open_turn``, the ``turn`` key: ``turn_record.py``) and
its reply is written by a background run in the app (``turn_runner.py``), so it may take
longer than an actor call may and holds no lock while the model works: history reads go on,
and a new turn of the user gets a 409 ``turn_in_progress`` until it is over. Each step here is
a short call under ChatAgent's turn lock:

    StartTurn       reserve the seq, arm the reminder, save, start the run      -> pending
    EndRun          the run's result, only if the turn still waits for that run:
                    a reply is committed as any turn is (history, outbox, index) -> done
                    a tool call that needs approval                     -> awaiting_approval
                    an error                                            -> failed
    DecideApproval  a person's decision on the call named (the one waiting); a new run
                    resumes the reply                                           -> pending
                    the same decision again: the same answer, nothing changes; another
                    call named, or another decision on a decided call: approval_stale
    the reminder    (every limits.turn_check_s, in Dapr's scheduler: it survives restarts)
                    a pending turn whose run is not in this process any more (the app
                    crashed, the actor moved) -> failed, turn_interrupted; an approval past
                    its deadline -> denied, and the reply resumes; no open turn -> it drops
                    itself
    GetTurn         pending / awaiting_approval / done (from the history) / failed

A failed turn saves nothing but its model-call records; its seq goes to the next turn.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta
from typing import Any, Protocol

from dapr.actor import Actor

from agent_actors import logs
from agent_actors.actors import turn_runner
from agent_actors.actors.interfaces import (
    ApprovalAnswer,
    PausedJob,
    RecordJob,
    ReplyJob,
    RunOutcome,
    TurnError,
    TurnQuery,
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
    IdempotencyConflict,
    InvalidInput,
    NotAwaitingApproval,
    TurnInProgress,
    TurnLimitReached,
    TurnNotFound,
)
from agent_actors.llm.approvals import Decision
from agent_actors.models import CallRecord, ChatMessage, fit_record, is_unicode_text
from agent_actors.sidecar.actor_runtime import StateLoader
from agent_actors.sidecar.boundary import actor_method
from agent_actors.store.history import HistoryStore
from agent_actors.store.state import RECENT_APPROVALS, ChatMeta, DecidedCall

log = logging.getLogger(__name__)


class TurnOrigin(Protocol):
    """What a turn's commit remembers of its request, so that a retry finds the turn: the
    request's id (daprd delivering it twice) and its ``Idempotency-Key``. A ``TurnRequest``
    has them, and a ``LongTurn`` keeps them."""

    @property
    def request_id(self) -> str | None: ...

    @property
    def idempotency_key(self) -> str | None: ...


def checked_message(request: TurnRequest) -> ChatMessage:
    message = ChatMessage(role=request.role, content=request.content)
    if message.role != "user":
        raise InvalidInput("a chat turn starts with a message whose role is 'user'")
    if not is_unicode_text(message.content):
        raise InvalidInput("content is not valid Unicode text (a lone surrogate)")
    return message


class LongTurns(Actor):
    """Mixed into ChatAgent (which provides the stubs below)."""

    _deps: ActorDeps
    _user: str
    _history: HistoryStore
    # ChatAgent's committed pages, read without the lock (the run's search_history tool).
    _committed: HistoryStore
    _load: StateLoader

    async def _meta(self) -> ChatMeta:
        """meta with the published_seq not saved yet: read as any turn reads it, or a long
        turn's commit republishes events already out."""
        raise NotImplementedError

    async def _reply_job(
        self, meta: ChatMeta, request: TurnRequest, message: ChatMessage, stream_id: str | None
    ) -> ReplyJob:
        raise NotImplementedError

    async def _commit_turn(
        self, meta: ChatMeta, job: ReplyJob, reply: ChatMessage, origin: TurnOrigin
    ) -> None:
        raise NotImplementedError

    async def _check_not_moved_on(self, meta: ChatMeta) -> None:
        raise NotImplementedError

    async def _arm_retention_first(self, meta: ChatMeta) -> None:
        raise NotImplementedError

    async def _replay(self, meta: ChatMeta, key: str, message: ChatMessage) -> TurnReply | None:
        raise NotImplementedError

    async def _committed_reply(self, meta: ChatMeta, seq: int) -> TurnReply:
        raise NotImplementedError

    # -- the calls ---------------------------------------------------------------------------

    @actor_method
    async def start_turn(self, user_input: dict[str, Any]) -> dict[str, Any]:
        request = TurnRequest.model_validate(user_input)
        message = checked_message(request)
        meta = await self._meta()
        known = await self._known_turn(meta, request, message)
        if known is not None:
            if known.turn is None:
                done = ChatMessage(role=known.role, content=known.content)
                known.turn = TurnView(seq=known.seq, status="done", response=done)
            return known.model_dump()
        job = await self._reply_job(meta, request, message, None)
        await self._arm_retention_first(meta)
        turn = LongTurn.of(request, job, self._deps.clock())
        turn.run_id, turn.runs = uuid.uuid4().hex, 1
        await self._open(meta, turn)
        log.info("turn user=%s seq=%d: long turn started", self._user, turn.seq)
        turn_runner.start(self._deps, self._user, self._load, turn)
        return TurnReply(role="assistant", content="", seq=turn.seq, turn=turn.view()).model_dump()

    @actor_method
    async def get_turn(self, query: dict[str, Any]) -> dict[str, Any]:
        seq = TurnQuery.model_validate(query).seq
        meta = await self._meta()
        if 1 <= seq <= meta.turns:
            _user, reply = await self._history.turn(meta, seq)
            return TurnView(seq=seq, status="done", response=reply).model_dump()
        turn = await self._turn_record() if seq == meta.turns + 1 else None
        if turn is None or turn.seq != seq:
            raise TurnNotFound(f"this conversation has no turn {seq} ({meta.turns} committed)")
        return turn.view().model_dump()

    @actor_method
    async def decide_approval(self, answer: dict[str, Any]) -> dict[str, Any]:
        asked = ApprovalAnswer.model_validate(answer)
        meta = await self._meta()
        decided = meta.decided(asked.seq, asked.call_id)
        if decided is not None:
            # Sent again (a lost answer retried, a second click): the same answer as the
            # first time, whatever the turn did since; anything else about the call is stale.
            if decided.same(asked.approve, asked.note):
                return TurnView(seq=asked.seq, status="pending").model_dump()
            raise ApprovalStale(
                f"call {asked.call_id} of turn {asked.seq} was already "
                f"{'approved' if decided.approve else 'denied'} by {decided.by}; this "
                "approval differs from that decision and changes nothing"
            )
        if 1 <= asked.seq <= meta.turns:
            raise NotAwaitingApproval(f"turn {asked.seq} is done; it awaits no approval")
        turn = await self._open_turn(meta)
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
        decision = Decision(approve=asked.approve, note=asked.note, by=asked.by)
        await self._resume(meta, turn, decision)
        return turn.view().model_dump()

    @actor_method
    async def end_run(self, outcome: dict[str, Any]) -> dict[str, Any]:
        got = RunOutcome.model_validate(outcome)
        meta = await self._meta()
        turn = await self._open_turn(meta)
        if turn is None or turn.seq != got.seq or turn.run_id != got.run_id:
            # The conversation was deleted, the turn failed (its run was taken for lost) or
            # another run owns it: this result must not be committed, nor its calls recorded.
            log.warning(
                "user=%s seq=%d: the result of run %s came after its turn ended; dropped",
                self._user,
                got.seq,
                got.run_id,
            )
            return {"ended": False}
        logs.bind(user=self._user, seq=turn.seq)
        records = self._fitted(got.records)
        if got.reply is not None:
            await self._commit_long_turn(meta, turn, got.reply, records)
        elif got.paused is not None:
            turn.await_approval(got.paused, records, self._approval_deadline())
            await self._save_turn(None, turn)
            self._log_awaiting(turn)
        else:
            error = got.error or TurnError(code="internal_error", detail="the run failed")
            await self._fail(meta, turn, error, records)
        turn_runner.changed(self._user)
        return {"ended": True}

    # -- shared with ProcessMessage ----------------------------------------------------------

    async def _known_turn(
        self, meta: ChatMeta, request: TurnRequest, message: ChatMessage
    ) -> TurnReply | None:
        """The turn this request already is (a second delivery, a repeated Idempotency-Key),
        or None for a new one; a new one while a long turn is open is a 409."""
        delivered = dict(meta.recent_requests).get(request.request_id or "")
        if delivered is not None:
            log.warning(
                "user=%s seq=%d: the same request delivered again, nothing saved",
                self._user,
                delivered,
            )
            return await self._committed_reply(meta, delivered)
        turn = await self._open_turn(meta)
        key = request.idempotency_key
        if turn is not None and (
            (request.request_id and turn.request_id == request.request_id)
            or (key and turn.idempotency_key == key)
        ):
            if turn.job.message != message:
                raise IdempotencyConflict(
                    "this Idempotency-Key was used for a turn with another message"
                )
            return TurnReply(
                role="assistant", content="", seq=turn.seq, replayed=True, turn=turn.view()
            )
        if key:
            done = await self._replay(meta, key, message)
            if done is not None:
                return done
        if turn is not None:
            raise TurnInProgress(
                f"turn {turn.seq} of this conversation is {turn.status.replace('_', ' ')}: "
                f"GET /chat/{{id}}/turns/{turn.seq}; a new turn can start once it is over"
            )
        return None

    def _check_turn_limit(self, meta: ChatMeta) -> None:
        limit = self._deps.settings.limits.max_turns
        if limit is not None and meta.turns >= limit:
            raise TurnLimitReached(
                f"this conversation has {meta.turns} turns, the limit; "
                "DELETE /chat/{id} starts a new one"
            )

    async def _pause_turn(
        self, meta: ChatMeta, request: TurnRequest, job: ReplyJob, paused: PausedJob
    ) -> TurnReply:
        """ProcessMessage's reply stopped before a tool call that needs approval: the turn
        becomes a long one, awaiting that approval (the caller gets a 202)."""
        # The stream it had is the route's, which answers now and closes it.
        stream_off = job.model_copy(update={"stream_id": None})
        turn = LongTurn.of(request, stream_off, self._deps.clock())
        turn.await_approval(paused.paused, self._fitted(paused.records), self._approval_deadline())
        await self._open(meta, turn)
        self._log_awaiting(turn)
        return TurnReply(role="assistant", content="", seq=job.seq, turn=turn.view())

    def _approval_deadline(self) -> float:
        return self._deps.clock() + self._deps.settings.limits.approval_timeout_s

    def _log_awaiting(self, turn: LongTurn) -> None:
        asked = turn.paused.asked.name if turn.paused is not None else "?"
        log.info("user=%s seq=%d: waiting for an approval of %s", self._user, turn.seq, asked)

    # -- the reminder ------------------------------------------------------------------------

    async def _long_turn_tick(self) -> None:
        try:
            meta = await self._meta()
            turn = await self._open_turn(meta)
            if turn is None:
                await self._drop_long_turn_reminder()
                return
            if turn.status == "awaiting_approval":
                if self._deps.clock() >= turn.approval_deadline:
                    timeout = self._deps.settings.limits.approval_timeout_s
                    log.info("user=%s seq=%d: approval deadline passed", self._user, turn.seq)
                    note = f"no decision within {timeout:g} s"
                    denial = Decision(approve=False, note=note, by="deadline")
                    await self._resume(meta, turn, denial)
                return
            if turn_runner.running(self._user, turn.run_id):
                return
            log.warning(
                "user=%s seq=%d: the run of this long turn is gone (the app restarted or the "
                "actor moved): the turn fails",
                self._user,
                turn.seq,
            )
            error = TurnError(
                code="turn_interrupted",
                detail="the run writing this turn's reply was lost (its app stopped, or the "
                "actor moved) before its result was saved; nothing of it was saved: send the "
                "message again",
            )
            await self._fail(meta, turn, error, turn.records, run_id=f"{turn.run_id}-lost")
            turn_runner.changed(self._user)
        except BaseException:
            await self._state_manager.clear_cache()
            raise  # the reminder fires again

    # -- steps -------------------------------------------------------------------------------

    async def _turn_record(self) -> LongTurn | None:
        found, raw = await self._state_manager.try_get_state(TURN_KEY)
        return LongTurn.model_validate(raw) if found else None

    async def _open_turn(self, meta: ChatMeta) -> LongTurn | None:
        if not meta.open_turn:
            return None
        turn = await self._turn_record()
        return turn if turn is not None and turn.open and turn.seq == meta.open_turn else None

    async def _open(self, meta: ChatMeta, turn: LongTurn) -> None:
        """Reserve ``turn``'s seq: its reminder first (a turn no reminder covers could stay
        pending for ever), then its state, with meta, in one transaction."""
        await self._check_not_moved_on(meta)
        period = timedelta(seconds=self._deps.settings.limits.turn_check_s)
        try:
            async with asyncio.timeout(self._deps.settings.limits.post_commit_timeout_s):
                await self.register_reminder(LONG_TURN_REMINDER, b"{}", period, period)
        except Exception as exc:
            raise ActorUnavailable(
                "the scheduler did not take the long turn's reminder; nothing was saved",
                cause=repr(exc),
            ) from exc
        meta.open_turn = turn.seq
        await self._save_turn(meta, turn)

    async def _save_turn(self, meta: ChatMeta | None, turn: LongTurn) -> None:
        if meta is not None:
            await self._history.save_meta(meta)
        await self._state_manager.set_state(TURN_KEY, turn.model_dump(mode="json"))
        await self._state_manager.save_state()

    async def _resume(self, meta: ChatMeta, turn: LongTurn, decision: Decision) -> None:
        """Record ``decision`` (on the turn, and in meta's recent approvals) and start the run
        that goes on with the reply."""
        assert turn.paused is not None
        # meta is saved below: never from a stale copy (another replica committed meanwhile).
        await self._check_not_moved_on(meta)
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
        turn_runner.changed(self._user)

    async def _commit_long_turn(
        self, meta: ChatMeta, turn: LongTurn, reply: ChatMessage, records: list[CallRecord]
    ) -> None:
        await self._check_not_moved_on(meta)
        # First ResponseAgent's count and the calls (once per run: a retried EndRun records
        # nothing twice), then the turn, as ProcessMessage does.
        job = RecordJob(seq=turn.seq, run_id=turn.run_id, replied=True, records=records)
        await ResponseAgentClient(self._deps.proxies, self._user).record_reply(job)
        meta.open_turn = 0
        await self._state_manager.try_remove_state(TURN_KEY)
        await self._commit_turn(meta, turn.job, reply, turn)
        await self._drop_long_turn_reminder()

    async def _fail(
        self,
        meta: ChatMeta,
        turn: LongTurn,
        error: TurnError,
        records: list[CallRecord],
        run_id: str | None = None,
    ) -> None:
        """End ``turn`` as failed: nothing saved but its model calls' records."""
        await self._check_not_moved_on(meta)
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
        await self._drop_long_turn_reminder()

    async def _drop_long_turn_reminder(self) -> None:
        try:
            async with asyncio.timeout(self._deps.settings.limits.post_commit_timeout_s):
                await self.unregister_reminder(LONG_TURN_REMINDER)
        except Exception as exc:
            # It fires again, finds no open turn and tries again: harmless.
            log.info("user=%s: the long-turn reminder stays for now: %r", self._user, exc)

    def _fitted(self, records: list[CallRecord]) -> list[CallRecord]:
        """Records as the call log would store them: the turn's state stays bounded."""
        llm = self._deps.settings.llm
        budget = llm.calls_page_bytes // llm.calls_page_size
        return [fit_record(r, budget) for r in records]
