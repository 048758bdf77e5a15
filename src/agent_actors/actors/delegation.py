"""Delegation between the agents of one session: handing a task on, and answering one.

A coordinator's turn hands a task to a delegate (``Delegator``, the responder's
``ReplyContext.delegate``): it publishes the task, waits for the reply with that task id
(``DelegationWaits``, fed by the reply topic's route) until the caller's
``delegate_timeout_s``, and sends the task again every third of that wait meanwhile, so a task
lost with a replica is retried without waiting for pub/sub's own redelivery. The task's
route runs it (``run_task``) as a turn of the delegate's thread whose idempotency key is the
task id: however often it is delivered, the thread answers it once and gives the recorded
answer after that.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid

from agent_actors import metrics
from agent_actors.actors.interfaces import ReplyJob, TaskRef, TurnRequest
from agent_actors.actors.proxies import ChatAgentClient
from agent_actors.actors.services import ActorDeps
from agent_actors.actors.task_waits import DelegationWaits
from agent_actors.errors import (
    ActorUnavailable,
    AgentActorsError,
    PublishFailed,
    StoreUnavailable,
)
from agent_actors.events.task_messages import DelegationTask, TaskBus, TaskReply
from agent_actors.llm.profiles import AgentProfile
from agent_actors.llm.responder import Delegated
from agent_actors.models import DelegationLink, DelegationStatus, cut, split_thread, thread_id

log = logging.getLogger(__name__)
# Resends of a task while its reply has not come: every third of the caller's deadline.
RESENDS = 3
ERROR_CHARS = 300
# The failures a task's route answers RETRY to (Dapr tries again, then dead-letters it):
# the delegate's thread could not be reached, not a turn that failed.
TRANSIENT = (ActorUnavailable, StoreUnavailable, PublishFailed)


class Delegator:
    """Hands tasks on for one turn of ``thread`` (the responder's ``Delegate``)."""

    def __init__(
        self,
        bus: TaskBus,
        waits: DelegationWaits,
        thread: str,
        caller: AgentProfile,
        seq: int,
        chain: list[str],
        offered: list[str],
        turn_key: str | None = None,
    ) -> None:
        self._bus = bus
        self._waits = waits
        self._session, _ = split_thread(thread)
        self._caller = caller
        self._seq = seq
        self._chain = chain
        self._offered = set(offered)
        # Task ids derive from the turn (thread, seq, request) and the delegation's place in
        # it: a turn run again (its actor call retried after a replica died, a long turn
        # resumed) that asks the same agent the same thing hands on the same task, which the
        # delegate's thread has answered or will answer once. Without a request id (tests),
        # each Delegator is a turn of its own.
        self._turn_key = turn_key or f"{thread}|{seq}|{uuid.uuid4().hex}"
        self._asked = 0

    async def __call__(self, agent: str, text: str, position: str | None = None) -> Delegated:
        timeout = self._caller.delegate_timeout_s
        self._asked += 1
        # The call's place in the turn when the responder knows it (a model's tool call: the
        # same in a run started after a crash, which skips the calls answered before it);
        # else the order of asking (the offline responder, which never starts again midway).
        task_id = task_key(self._turn_key, position or str(self._asked), agent, text)
        if agent not in self._offered:
            # The tools offered are these agents: a responder asking another is a bug.
            error = f"{agent!r} is not a delegate of {self._caller.name!r} in this turn"
            return Delegated(
                DelegationLink(task_id=task_id, delegate=agent, status="failed", error=error)
            )
        task = DelegationTask(
            task_id=task_id,
            session=self._session,
            delegate=agent,
            text=text,
            caller=self._caller.name,
            caller_seq=self._seq,
            chain=[*self._chain, self._caller.name],
            deadline=time.time() + timeout,
        )
        started = time.monotonic()
        reply, why = await self._ask(task, started + timeout)
        latency = int((time.monotonic() - started) * 1000)
        if reply is None:
            status: DelegationStatus = "timeout" if why is None else "failed"
            error = why or f"no answer within {timeout:g} s"
            metrics.DELEGATIONS.labels(status).inc()
            log.warning("delegation %s to %s: %s", task.task_id, agent, error)
            link = DelegationLink(
                task_id=task.task_id,
                delegate=agent,
                status=status,
                latency_ms=latency,
                error=cut(error, ERROR_CHARS),
            )
            return Delegated(link)
        metrics.DELEGATIONS.labels(reply.status).inc()
        link = DelegationLink(
            task_id=task.task_id,
            delegate=agent,
            status=reply.status,
            latency_ms=latency,
            seq=reply.seq,
            error=cut(reply.error, ERROR_CHARS) if reply.error else None,
        )
        return Delegated(link, reply.content if reply.status == "ok" else None)

    async def _ask(self, task: DelegationTask, end: float) -> tuple[TaskReply | None, str | None]:
        """The reply, or (None, why) when the task could not be sent, or (None, None) when
        no reply came before ``end`` (monotonic)."""
        every = max((end - time.monotonic()) / RESENDS, 0.5)
        future = self._waits.expect(task.task_id)
        try:
            sent = False
            while (left := end - time.monotonic()) > 0:
                try:
                    async with asyncio.timeout(left):
                        await self._bus.send(task)
                    sent = True
                except PublishFailed as exc:
                    if not sent:
                        return None, f"the task could not be sent: {exc.message}"
                except TimeoutError:
                    break
                try:
                    return await asyncio.wait_for(
                        asyncio.shield(future), min(every, max(end - time.monotonic(), 0))
                    ), None
                except TimeoutError:
                    if time.monotonic() < end:
                        log.info("delegation %s: no reply yet, sent again", task.task_id)
                        metrics.DELEGATIONS.labels("resent").inc()
            return None, None
        finally:
            self._waits.forget(task.task_id)


def task_key(turn_key: str, place: str, agent: str, text: str) -> str:
    """The id of the task a turn hands on at ``place`` (to ``agent``, saying ``text``)."""
    digest = hashlib.sha256(f"{turn_key}|{place}|{agent}|{text}".encode())
    return digest.hexdigest()[:32]


def delegator(
    deps: ActorDeps,
    thread: str,
    caller: AgentProfile,
    seq: int,
    job: ReplyJob,
    offered: list[AgentProfile],
) -> Delegator | None:
    """The turn's delegator, when delegation is wired (the app's, not the unit twins')."""
    if deps.tasks is None:
        return None
    chain = job.task.chain if job.task else []
    turn_key = f"{thread}|{seq}|{job.request_id}" if job.request_id else None
    names = [a.name for a in offered]
    return Delegator(deps.tasks, deps.waits, thread, caller, seq, chain, names, turn_key)


async def run_task(deps: ActorDeps, task: DelegationTask) -> TaskReply:
    """Answer ``task`` as a turn of the delegate's thread, once (its id is the turn's
    idempotency key: a second delivery gets the recorded answer) and say so on the reply
    topic. A turn that fails is a failed reply; a thread that cannot be reached raises (the
    route answers RETRY)."""
    thread = thread_id(task.session, task.delegate, deps.profiles.default)
    request = TurnRequest(
        content=task.text,
        idempotency_key=f"task:{task.task_id}",
        request_id=task.task_id,
        agent=task.delegate,
        task=TaskRef(task_id=task.task_id, chain=task.chain),
    )
    try:
        turn = await ChatAgentClient(deps.proxies, thread).process_message(request)
    except TRANSIENT:
        raise
    except AgentActorsError as exc:
        reply = TaskReply(task_id=task.task_id, status="failed", error=exc.message, code=exc.code)
    else:
        if turn.turn is not None:
            reply = TaskReply(
                task_id=task.task_id,
                status="failed",
                seq=turn.seq,
                error=f"the delegate's turn {turn.seq} waits for a person's approval",
                code="awaiting_approval",
            )
        else:
            reply = TaskReply(task_id=task.task_id, status="ok", content=turn.content, seq=turn.seq)
    if deps.tasks is not None:
        await deps.tasks.answer(reply)
    return reply
