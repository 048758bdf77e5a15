"""Delegation on the wire: a task one agent hands to another of its session, and its reply.

Tasks go to the task topic on the service's pub/sub, whose consumer group is the app: one
replica takes each, whichever hosts the delegate's thread or not (its actor call goes there).
Replies go to the reply topic on a second component whose consumer group is each sidecar's own
(``consumerID: "{uuid}"``, components/pubsub.yaml): every replica hears every reply, and the
one whose turn waits for that task id takes it. Both keep Redis Streams' at-least-once
delivery: a task is run at most once per thread (its id is the turn's idempotency key), a
reply heard twice is taken once.
"""

from __future__ import annotations

from typing import Any, Protocol

from pydantic import BaseModel, Field

from agent_actors.errors import InvalidInput
from agent_actors.models import AGENT_NAME, DelegationStatus, check_user_id
from agent_actors.sidecar.client import Sidecar


class DelegationTask(BaseModel):
    task_id: str = Field(min_length=1, max_length=64)
    session: str = Field(description="the user id: the caller's and the delegate's session")
    delegate: str = Field(description="the agent profile that answers")
    text: str = Field(min_length=1, description="the task, as the delegate's turn message")
    caller: str = Field(description="the agent that handed the task on")
    caller_seq: int = Field(ge=1, description="the caller's turn")
    # The agents the task went through before the delegate, the caller last (profiles'
    # offered_delegates: how deep it went, and whom not to hand it back to).
    chain: list[str] = Field(default_factory=list)
    deadline: float = Field(description="unix time the caller stops waiting")


class TaskReply(BaseModel):
    task_id: str
    status: DelegationStatus
    content: str | None = None
    seq: int | None = Field(None, description="the delegate's turn that answered")
    error: str | None = None
    code: str | None = Field(None, description="the delegate's error code, when it failed")


def parse_task(body: Any, max_id_chars: int) -> DelegationTask:
    """The task in a CloudEvent as Dapr delivers it, its names checked as the API's are."""
    if not isinstance(body, dict):
        raise InvalidInput("the body is not a CloudEvent object")
    task = DelegationTask.model_validate(body.get("data"))
    check_user_id(task.session, max_id_chars)
    for name in (task.delegate, task.caller, *task.chain):
        if not AGENT_NAME.fullmatch(name):
            raise InvalidInput(f"{name[:80]!r} is not an agent's name")
    return task


def parse_reply(body: Any) -> TaskReply:
    if not isinstance(body, dict):
        raise InvalidInput("the body is not a CloudEvent object")
    return TaskReply.model_validate(body.get("data"))


class TaskBus(Protocol):
    async def send(self, task: DelegationTask) -> None: ...

    async def answer(self, reply: TaskReply) -> None: ...


class DaprTaskBus:
    """Dapr's publish API on the app's sidecar pool (a failure is ``PublishFailed``)."""

    def __init__(
        self, sidecar: Sidecar, pubsub: str, topic: str, reply_pubsub: str, reply_topic: str
    ) -> None:
        self._sidecar = sidecar
        self._tasks = f"/v1.0/publish/{pubsub}/{topic}"
        self._replies = f"/v1.0/publish/{reply_pubsub}/{reply_topic}"

    async def send(self, task: DelegationTask) -> None:
        await self._sidecar.call("POST", self._tasks, task.model_dump_json().encode())

    async def answer(self, reply: TaskReply) -> None:
        await self._sidecar.call("POST", self._replies, reply.model_dump_json().encode())
