"""Long turns and approvals on the SDK's mock actors: the run outside the actor call, the
at-most-once commit, the reminder that never leaves a turn pending, and the approval flow."""

from __future__ import annotations

import asyncio
import copy
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from agent_actors.actors.interfaces import ChatAgentInterface, ResponseAgentInterface
from agent_actors.actors.services import ActorDeps
from agent_actors.actors.turn_record import LONG_TURN_REMINDER, TURN_KEY
from agent_actors.errors import (
    ApprovalStale,
    ConversationMoved,
    IdempotencyConflict,
    NotAwaitingApproval,
    ResponderTimeout,
    TurnInProgress,
    TurnNotFound,
)
from agent_actors.llm.approvals import ApprovalRequired, AskedCall, PausedReply, Resumption
from agent_actors.llm.responder import ReplyContext, ReplyRequest
from agent_actors.models import ActorTypes, CallRecord, ToolCallRecord
from agent_actors.settings import LimitSettings, Settings
from agent_actors.sidecar.boundary import unwrap
from agent_actors.store.state import ChatMeta
from tests.unit.twins import LocalActors, make_deps

USER = "u1"


def settings(**limits: Any) -> Settings:
    return Settings(limits=LimitSettings(**limits))


class GatedResponder:
    """Answers once ``gate`` is set; or fails with ``error``."""

    def __init__(self, error: Exception | None = None) -> None:
        self.gate = asyncio.Event()
        self.error = error
        self.asked: list[ReplyRequest] = []

    async def reply(self, request: ReplyRequest, context: ReplyContext) -> str:
        self.asked.append(request)
        await self.gate.wait()
        if self.error is not None:
            raise self.error
        return f"reply to {request.message.content}"


class ApprovalResponder:
    """Asks to run ``files__delete`` before answering; the answer says what was decided."""

    async def reply(self, request: ReplyRequest, context: ReplyContext) -> str:
        call = ToolCallRecord(name="files__delete", id="c1", arguments='{"path": "a"}')
        context.calls.record(
            CallRecord(seq=request.seq, at=datetime.now(UTC), model="m", tool_calls=[call])
        )
        asked = AskedCall(id="c1", name="files__delete", arguments='{"path": "a"}')
        raise ApprovalRequired(
            PausedReply(
                messages=[],
                calls=[asked.model_copy(update={"grant": "files.delete"})],
                decisions=[None],
            )
        )

    async def resume(self, request: ReplyRequest, context: ReplyContext, at: Resumption) -> str:
        decision = at.paused.decisions[at.paused.asking]
        assert decision is not None
        return "deleted" if decision.approve else f"not deleted: {decision.note}"


def chat(actors: LocalActors, user: str = USER) -> Any:
    return actors.create(ActorTypes.CHAT, user, ChatAgentInterface)


async def start(actors: LocalActors, content: str, **extra: Any) -> dict[str, Any]:
    reply: dict[str, Any] = unwrap(
        await chat(actors).StartTurn({"role": "user", "content": content, **extra})
    )
    return reply


async def turn(actors: LocalActors, content: str, **extra: Any) -> dict[str, Any]:
    reply: dict[str, Any] = unwrap(
        await chat(actors).ProcessMessage({"role": "user", "content": content, **extra})
    )
    return reply


async def view(actors: LocalActors, seq: int) -> dict[str, Any]:
    got: dict[str, Any] = unwrap(await chat(actors).GetTurn({"seq": seq}))
    return got


async def history_total(actors: LocalActors) -> int:
    return int(unwrap(await chat(actors).GetConversationHistory({}))["total"])


async def settled(deps: ActorDeps, user: str = USER) -> None:
    """Until this app runs no long turn of ``user``."""
    while (run := deps.runs.get(user)) is not None:
        await asyncio.wait({run.task})


async def fire(actors: LocalActors, user: str = USER) -> None:
    """The long-turn reminder firing, as daprd delivers it: under the actor's turn lock."""
    actor = actors.actor(ActorTypes.CHAT, user)
    async with actors.locks[(ActorTypes.CHAT, user)]:
        await actor.receive_reminder(LONG_TURN_REMINDER, b"{}", None, None)
        await actor._state_manager.save_state()


def state(actors: LocalActors, user: str = USER) -> dict[str, Any]:
    stored: dict[str, Any] = actors.actor(ActorTypes.CHAT, user)._state_manager._mock_state
    return stored


def reminders(actors: LocalActors, user: str = USER) -> dict[str, Any]:
    armed: dict[str, Any] = actors.actor(ActorTypes.CHAT, user)._state_manager._mock_reminders
    return armed


async def calls(actors: LocalActors) -> list[dict[str, Any]]:
    proxy = actors.create(ActorTypes.RESPONSE, USER, ResponseAgentInterface)
    found: list[dict[str, Any]] = unwrap(await proxy.GetCalls({"limit": 20}))["calls"]
    return found


async def test_a_long_turn_holds_its_seq_runs_outside_the_call_and_commits() -> None:
    deps, actors, publisher = make_deps()
    responder = deps.responder = GatedResponder()
    started = await start(actors, "slow one")
    assert started["seq"] == 1
    assert started["turn"] == {
        "seq": 1,
        "status": "pending",
        "response": None,
        "error": None,
        "approval": None,
        "resumed": 0,
    }
    assert LONG_TURN_REMINDER in reminders(actors)
    # The actor call is over while the model works: reads go on, a new turn is refused.
    assert (await view(actors, 1))["status"] == "pending"
    assert await history_total(actors) == 0
    with pytest.raises(TurnInProgress):
        await turn(actors, "meanwhile")
    with pytest.raises(TurnInProgress):
        await start(actors, "meanwhile")
    # A reminder while the run is alive in this process changes nothing.
    await fire(actors)
    assert (await view(actors, 1))["status"] == "pending"
    responder.gate.set()
    await settled(deps)
    done = await view(actors, 1)
    assert done["status"] == "done"
    assert done["response"] == {"role": "assistant", "content": "reply to slow one"}
    assert await history_total(actors) == 2
    assert [e.seq for e in publisher.published] == [1]
    assert state(actors)["meta"]["open_turn"] == 0
    assert TURN_KEY not in state(actors)
    assert LONG_TURN_REMINDER not in reminders(actors)
    count = actors.create(ActorTypes.RESPONSE, USER, ResponseAgentInterface)
    assert unwrap(await count.GetMessageCount()) == 1
    # The next turn is seq 2, as after any turn.
    assert (await turn(actors, "next"))["seq"] == 2


async def test_a_repeated_request_is_the_same_turn_pending_or_done() -> None:
    deps, actors, _ = make_deps()
    responder = deps.responder = GatedResponder()
    first = await start(actors, "a", idempotency_key="k1")
    again = await start(actors, "a", idempotency_key="k1")
    assert (again["seq"], again["replayed"], again["turn"]["status"]) == (1, True, "pending")
    with pytest.raises(IdempotencyConflict):
        await start(actors, "b", idempotency_key="k1")
    # The synchronous route with the key of a pending turn gets that turn, not a 409.
    sync = await turn(actors, "a", idempotency_key="k1")
    assert sync["turn"]["status"] == "pending"
    responder.gate.set()
    await settled(deps)
    assert len(responder.asked) == 1
    done = await start(actors, "a", idempotency_key="k1")
    assert done["turn"]["status"] == "done"
    assert done["turn"]["response"]["content"] == "reply to a"
    assert (await turn(actors, "a", idempotency_key="k1"))["content"] == "reply to a"
    assert first["seq"] == done["seq"] == 1
    assert await history_total(actors) == 2


async def test_a_lost_run_starts_again_and_its_late_result_is_dropped() -> None:
    deps, actors, _ = make_deps()
    deps.responder = GatedResponder()
    await start(actors, "crashes")
    lost = state(actors)[TURN_KEY]["run_id"]
    # The app dies mid-turn: its run is gone from this process; the reminder starts another.
    deps.runs.cancel(USER)
    await fire(actors)
    again = await view(actors, 1)
    assert (again["status"], again["resumed"]) == ("pending", 1)
    assert state(actors)[TURN_KEY]["run_id"] != lost
    assert LONG_TURN_REMINDER in reminders(actors)
    # The lost run's result, arriving after all, commits nothing.
    outcome = {"seq": 1, "run_id": lost, "reply": {"role": "assistant", "content": "late"}}
    assert unwrap(await chat(actors).EndRun(outcome)) == {"ended": False}
    assert await history_total(actors) == 0
    # The new run's reply is the turn's.
    deps.responder.gate.set()
    await settled(deps)
    done = await view(actors, 1)
    assert done["status"] == "done"
    assert done["response"]["content"] != "late"
    assert await history_total(actors) == 2


async def test_a_turn_lost_more_often_than_allowed_fails_and_frees_its_seq() -> None:
    deps, actors, _ = make_deps()
    deps.settings.limits.long_turn_resumes = 1
    deps.responder = GatedResponder()
    await start(actors, "crashes twice")
    deps.runs.cancel(USER)
    await fire(actors)
    assert (await view(actors, 1))["resumed"] == 1
    deps.runs.cancel(USER)
    await fire(actors)
    failed = await view(actors, 1)
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "turn_interrupted"
    assert LONG_TURN_REMINDER not in reminders(actors)
    # The seq goes to the next turn.
    deps.responder = GatedResponder()
    deps.responder.gate.set()
    assert (await turn(actors, "again"))["seq"] == 1
    assert (await view(actors, 1))["status"] == "done"
    with pytest.raises(TurnNotFound):
        await view(actors, 2)


async def test_a_turn_whose_reply_fails_ends_failed_with_the_code() -> None:
    deps, actors, _ = make_deps()
    responder = deps.responder = GatedResponder(ResponderTimeout("the model did not answer"))
    responder.gate.set()
    await start(actors, "x")
    await settled(deps)
    failed = await view(actors, 1)
    assert (failed["status"], failed["error"]["code"]) == ("failed", "responder_timeout")
    assert state(actors)["meta"]["open_turn"] == 0
    assert await history_total(actors) == 0


async def test_a_deleted_conversation_is_not_brought_back_by_its_long_turn() -> None:
    deps, actors, publisher = make_deps()
    deps.responder = GatedResponder()
    await start(actors, "x")
    run_id = state(actors)[TURN_KEY]["run_id"]
    unwrap(await chat(actors).Delete())
    assert deps.runs.get(USER) is None
    assert LONG_TURN_REMINDER not in reminders(actors)
    outcome = {"seq": 1, "run_id": run_id, "reply": {"role": "assistant", "content": "late"}}
    assert unwrap(await chat(actors).EndRun(outcome)) == {"ended": False}
    assert state(actors) == {}
    assert actors.actor(ActorTypes.RESPONSE, USER)._state_manager._mock_state == {}
    assert publisher.published == []


async def test_an_approval_pauses_the_turn_without_the_lock_and_resumes_it() -> None:
    deps, actors, _ = make_deps()
    deps.responder = ApprovalResponder()
    paused = await turn(actors, "delete a")
    assert paused["seq"] == 1
    asked = paused["turn"]
    assert asked["status"] == "awaiting_approval"
    assert asked["approval"]["tool"] == "files.delete"
    assert asked["approval"]["arguments"] == '{"path": "a"}'
    assert asked["approval"]["deadline"] > time.time()
    # The reminder is due at the deadline itself, not at the next periodic check.
    due = reminders(actors)[LONG_TURN_REMINDER].due_time.total_seconds()
    timeout = deps.settings.limits.approval_timeout_s
    assert timeout - 5 < due <= timeout
    assert await history_total(actors) == 0
    with pytest.raises(TurnInProgress):
        await turn(actors, "meanwhile")
    call_id = asked["approval"]["call_id"]
    # Naming another call decides nothing.
    with pytest.raises(ApprovalStale):
        unwrap(await chat(actors).DecideApproval({"seq": 1, "call_id": "other", "approve": True}))
    assert (await view(actors, 1)) == asked
    answer = {"seq": 1, "call_id": call_id, "approve": True, "note": "fine", "by": "key:abc"}
    resumed = unwrap(await chat(actors).DecideApproval(answer))
    assert resumed == {**asked, "status": "pending", "approval": None}
    # Approving twice: the same answer; another decision on that call is stale.
    assert unwrap(await chat(actors).DecideApproval(answer)) == resumed
    for other in ({"approve": False}, {"note": "changed"}):
        with pytest.raises(ApprovalStale):
            unwrap(await chat(actors).DecideApproval({**answer, **other}))
    await settled(deps)
    done = await view(actors, 1)
    assert done["response"]["content"] == "deleted"
    # Once the turn is committed too.
    assert unwrap(await chat(actors).DecideApproval(answer)) == resumed
    with pytest.raises(NotAwaitingApproval):
        unwrap(await chat(actors).DecideApproval({**answer, "call_id": "other"}))
    [record] = await calls(actors)
    assert record["tool_calls"][0]["approved_by"] == "key:abc"
    assert record["tool_calls"][0]["approval_note"] == "fine"


async def test_a_first_turn_awaiting_approval_already_shows_its_agent() -> None:
    deps, actors, _ = make_deps()
    deps.responder = ApprovalResponder()
    support = chat(actors, f"{USER}~support")
    message = {"role": "user", "content": "delete a", "agent": "support"}
    paused = unwrap(await support.ProcessMessage(message))
    assert paused["turn"]["status"] == "awaiting_approval"
    # Nothing committed yet, but the thread's first turn has its agent: not the default's.
    assert unwrap(await support.GetSummary())["agent"] == "support"
    call_id = paused["turn"]["approval"]["call_id"]
    denial = {"seq": 1, "call_id": call_id, "approve": False, "by": "key:abc"}
    unwrap(await support.DecideApproval(denial))
    await settled(deps)
    assert unwrap(await support.GetSummary())["agent"] == "support"


async def test_a_denial_goes_back_to_the_model_and_is_recorded() -> None:
    deps, actors, _ = make_deps()
    deps.responder = ApprovalResponder()
    await start(actors, "delete a")
    first_run = state(actors)[TURN_KEY]["run_id"]
    await settled(deps)
    asked = await view(actors, 1)
    assert asked["status"] == "awaiting_approval"
    denial = {"seq": 1, "call_id": asked["approval"]["call_id"], "approve": False, "note": "no"}
    unwrap(await chat(actors).DecideApproval(denial))
    # The first run's result delivered again (a retried report) is not this run's: dropped.
    stale = {"seq": 1, "run_id": first_run, "reply": {"role": "assistant", "content": "stale"}}
    assert unwrap(await chat(actors).EndRun(stale)) == {"ended": False}
    await settled(deps)
    assert (await view(actors, 1))["response"]["content"] == "not deleted: no"
    [record] = await calls(actors)
    assert record["tool_calls"][0]["approved_by"] is None
    assert record["tool_calls"][0]["error"] == "denied by anonymous"


async def test_an_approval_past_its_deadline_is_denied_by_the_reminder() -> None:
    deps, actors, _ = make_deps(settings(approval_timeout_s=60))
    deps.responder = ApprovalResponder()
    now = [time.time()]
    deps.clock = lambda: now[0]
    paused = await turn(actors, "delete a")
    assert paused["turn"]["approval"]["deadline"] == now[0] + 60
    # Before the deadline the reminder leaves the approval waiting.
    now[0] += 59
    await fire(actors)
    assert (await view(actors, 1))["status"] == "awaiting_approval"
    now[0] += 1
    await fire(actors)
    await settled(deps)
    done = await view(actors, 1)
    assert done["response"]["content"] == "not deleted: no decision within 60 s"
    [record] = await calls(actors)
    assert record["tool_calls"][0]["error"] == "denied by deadline"
    assert LONG_TURN_REMINDER not in reminders(actors)
    # A late click approves nothing: the deadline decided.
    late = {"seq": 1, "call_id": paused["turn"]["approval"]["call_id"], "approve": True}
    with pytest.raises(ApprovalStale, match="denied by deadline"):
        unwrap(await chat(actors).DecideApproval(late))


async def test_an_approval_after_its_deadline_is_refused_before_the_reminder_comes() -> None:
    """The reminder comes every turn_check_s (and not while the scheduler is down): an approval
    that arrives past the deadline before it does approves nothing; the call is denied."""
    deps, actors, _ = make_deps(settings(approval_timeout_s=60))
    deps.responder = ApprovalResponder()
    now = [time.time()]
    deps.clock = lambda: now[0]
    paused = await turn(actors, "delete a")
    now[0] += 61
    late = {"seq": 1, "call_id": paused["turn"]["approval"]["call_id"], "approve": True}
    with pytest.raises(ApprovalStale, match="after its deadline"):
        unwrap(await chat(actors).DecideApproval(late))
    await settled(deps)
    done = await view(actors, 1)
    assert done["response"]["content"] == "not deleted: no decision within 60 s"
    [record] = await calls(actors)
    assert record["tool_calls"][0]["error"] == "denied by deadline"
    # Sent again, it is still no approval.
    with pytest.raises(ApprovalStale):
        unwrap(await chat(actors).DecideApproval(late))


async def test_a_long_turn_after_published_turns_publishes_each_event_once() -> None:
    # The published_seq of the last ordinary turn is kept in the object until the next write
    # of meta (Conversation.meta): a long turn's steps must read meta with it, or its commit
    # republishes events that were already out.
    deps, actors, publisher = make_deps()
    await turn(actors, "a")
    await turn(actors, "b")
    responder = deps.responder = GatedResponder()
    await start(actors, "slow")
    responder.gate.set()
    await settled(deps)
    assert (await view(actors, 3))["status"] == "done"
    assert [e.seq for e in publisher.published] == [1, 2, 3]


async def test_an_approval_saves_nothing_from_a_copy_the_conversation_moved_past() -> None:
    # The decision is saved with meta (its recent approvals): if this object outlived a move
    # of the actor and another replica committed turns, its meta must not be written back.
    deps, actors, _ = make_deps()
    deps.responder = ApprovalResponder()
    asked = (await turn(actors, "delete a"))["turn"]
    before = copy.deepcopy(state(actors))

    class Elsewhere:
        async def meta(self) -> ChatMeta:
            return ChatMeta(turns=3)

    actors.actor(ActorTypes.CHAT, USER)._conversation.committed = Elsewhere()
    answer = {"seq": 1, "call_id": asked["approval"]["call_id"], "approve": True}
    with pytest.raises(ConversationMoved):
        unwrap(await chat(actors).DecideApproval(answer))
    assert state(actors) == before


async def test_a_decided_approval_puts_the_reminder_back_to_its_period() -> None:
    """While an approval waits, the reminder is due at its deadline; once a person decides,
    the run that goes on must be checked every turn_check_s again: a run lost minutes before
    the old deadline would otherwise wait for that deadline to be started again."""
    deps, actors, _ = make_deps(settings(approval_timeout_s=600, turn_check_s=5))

    class Blocked(ApprovalResponder):
        async def resume(self, request: ReplyRequest, context: ReplyContext, at: Resumption) -> str:
            await asyncio.Event().wait()  # the run is lost before it answers
            return ""

    deps.responder = Blocked()
    paused = await turn(actors, "delete a")
    assert reminders(actors)[LONG_TURN_REMINDER].due_time.total_seconds() > 500
    answer = {"seq": 1, "call_id": paused["turn"]["approval"]["call_id"], "approve": True}
    unwrap(await chat(actors).DecideApproval(answer))
    armed = reminders(actors)[LONG_TURN_REMINDER]
    assert armed.due_time.total_seconds() <= 5
    assert armed.period.total_seconds() == 5
    deps.runs.cancel(USER)
