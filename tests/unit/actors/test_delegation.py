"""Handing a task on: the wait for its reply, the resends, the deadline, a send that fails."""

from __future__ import annotations

import asyncio
import time

from agent_actors.actors.delegation import Delegator, task_key
from agent_actors.actors.task_waits import DelegationWaits
from agent_actors.errors import PublishFailed
from agent_actors.events.task_messages import DelegationTask, TaskReply
from agent_actors.llm.profiles import AgentProfile


class Bus:
    """Records the tasks sent; answers each after ``answer_after`` sends (None: never)."""

    def __init__(self, waits: DelegationWaits, answer_after: int | None = 1, **reply: object):
        self.waits = waits
        self.sent: list[DelegationTask] = []
        self.answer_after = answer_after
        self.reply = reply
        self.failing = False

    async def send(self, task: DelegationTask) -> None:
        if self.failing:
            raise PublishFailed("the broker is down")
        self.sent.append(task)
        if self.answer_after is not None and len(self.sent) >= self.answer_after:
            reply = {"status": "ok", "content": "refunded", "seq": 4, **self.reply}
            loop = asyncio.get_running_loop()
            loop.call_soon(self.waits.settle, TaskReply(task_id=task.task_id, **reply))

    async def answer(self, reply: TaskReply) -> None:
        self.waits.settle(reply)


def delegator(bus: Bus, timeout_s: float = 5.0, chain: list[str] | None = None) -> Delegator:
    caller = AgentProfile(name="coord", delegate_timeout_s=timeout_s)
    return Delegator(bus, bus.waits, "s1~coord", caller, 3, chain or [], ["billing"])


async def test_the_answer_comes_back_with_its_link() -> None:
    bus = Bus(DelegationWaits())
    delegated = await delegator(bus, chain=["top"])("billing", "refund order 7?")
    assert delegated.answer == "refunded"
    link = delegated.link
    assert (link.delegate, link.status, link.seq) == ("billing", "ok", 4)
    (task,) = bus.sent
    assert (task.task_id, task.session, task.delegate, task.text) == (
        link.task_id,
        "s1",
        "billing",
        "refund order 7?",
    )
    assert (task.caller, task.caller_seq, task.chain) == ("coord", 3, ["top", "coord"])
    assert len(bus.waits) == 0  # nobody waits for it any more


async def test_a_lost_task_is_sent_again_until_it_is_answered() -> None:
    bus = Bus(DelegationWaits(), answer_after=2)
    delegated = await delegator(bus, timeout_s=1.5)("billing", "refund?")
    assert delegated.answer == "refunded"
    assert [t.task_id for t in bus.sent] == [delegated.link.task_id] * 2  # the same task


async def test_no_answer_by_the_deadline_is_a_timeout_not_a_hang() -> None:
    bus = Bus(DelegationWaits(), answer_after=None)
    started = time.monotonic()
    delegated = await delegator(bus, timeout_s=1.2)("billing", "refund?")
    waited = time.monotonic() - started
    assert delegated.answer is None
    assert delegated.link.status == "timeout"
    assert "no answer within 1.2 s" in (delegated.link.error or "")
    assert 1.2 <= waited < 2.2  # the bound: the deadline plus a second
    assert len(bus.sent) == 3  # sent, then again every third of the wait
    assert len(bus.waits) == 0


async def test_a_failed_delegate_is_a_failure_with_its_reason() -> None:
    bus = Bus(DelegationWaits(), status="failed", content=None, error="model down")
    delegated = await delegator(bus)("billing", "refund?")
    assert delegated.answer is None
    assert (delegated.link.status, delegated.link.error) == ("failed", "model down")


async def test_a_task_that_cannot_be_sent_fails_at_once() -> None:
    bus = Bus(DelegationWaits())
    bus.failing = True
    delegated = await delegator(bus)("billing", "refund?")
    assert delegated.link.status == "failed"
    assert "could not be sent" in (delegated.link.error or "")


async def test_only_the_offered_delegates_are_asked() -> None:
    bus = Bus(DelegationWaits())
    delegated = await delegator(bus)("shipping", "where?")
    assert delegated.link.status == "failed"
    assert bus.sent == []


def test_a_reply_nobody_waits_for_is_ignored() -> None:
    assert DelegationWaits().settle(TaskReply(task_id="t", status="ok")) is False


async def test_a_turn_run_again_hands_on_the_same_tasks() -> None:
    def ids(turn_key: str, texts: list[str]) -> list[str]:
        return [task_key(turn_key, str(n), "billing", t) for n, t in enumerate(texts, 1)]

    first = ids("s1~coord|3|req-1", ["refund?", "refund?"])
    assert first == ids("s1~coord|3|req-1", ["refund?", "refund?"])
    assert first[0] != first[1]  # asked twice in one turn: two tasks
    assert ids("s1~coord|3|req-1", ["refund now?"])[0] != first[0]  # another question
    assert ids("s1~coord|3|req-2", ["refund?"])[0] != first[0]  # another request
    bus = Bus(DelegationWaits())
    caller = AgentProfile(name="coord")
    one = Delegator(bus, bus.waits, "s1~coord", caller, 3, [], ["billing"], "s1~coord|3|req-1")
    assert (await one("billing", "refund?")).link.task_id == first[0]


async def test_a_run_started_again_midway_hands_on_the_same_task_at_the_same_place() -> None:
    # The first run asked at 1.0 and 2.0; the run after a crash answers 1.0 from its saved
    # result and asks only at 2.0: that task must be the one the first run sent.
    bus = Bus(DelegationWaits())
    caller = AgentProfile(name="coord")
    first = Delegator(bus, bus.waits, "s1~coord", caller, 3, [], ["billing"], "s1~coord|3|r")
    await first("billing", "refund?", "1.0")
    lost = (await first("billing", "and the fee?", "2.0")).link.task_id
    again = Delegator(bus, bus.waits, "s1~coord", caller, 3, [], ["billing"], "s1~coord|3|r")
    assert (await again("billing", "and the fee?", "2.0")).link.task_id == lost
