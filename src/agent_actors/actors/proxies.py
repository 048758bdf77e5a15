"""Typed handles on the actors: the only way the rest of the service calls one.

``ChatAgentClient(proxies, user).process_message(TurnRequest(...)) -> TurnReply``: actor
types, ids (``models.ActorTypes``), proxies and envelopes stay in here. A sidecar failure arrives as
``ActorUnavailable`` (translated once, in ``sidecar/failures.py``), a domain error as its own class.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from agent_actors.actors.interfaces import (
    ApprovalAnswer,
    CallsQuery,
    CallsView,
    CatchUpQuery,
    ChatAgentInterface,
    ExportPage,
    ExportQuery,
    HistoryQuery,
    HistoryView,
    MemoryAgentInterface,
    MemoryUpdate,
    MemoryView,
    PausedJob,
    RecordJob,
    ReplyJob,
    ResponseAgentInterface,
    RunOutcome,
    SessionSummary,
    StepJob,
    TurnQuery,
    TurnReply,
    TurnRequest,
    TurnView,
)
from agent_actors.models import ActorTypes, ChatMessage
from agent_actors.sidecar.actor_client import ProxyFactory
from agent_actors.sidecar.boundary import unwrap


class ActorClient:
    def __init__(
        self, proxies: ProxyFactory, actor_type: str, actor_id: str, interface: type[Any]
    ) -> None:
        self._proxy = proxies.create(actor_type, actor_id, interface)

    async def _call(self, method: str, payload: BaseModel | None = None) -> Any:
        call = getattr(self._proxy, method)
        envelope = await (call() if payload is None else call(payload.model_dump(mode="json")))
        return unwrap(envelope)


class ChatAgentClient(ActorClient):
    def __init__(self, proxies: ProxyFactory, user_id: str) -> None:
        super().__init__(proxies, ActorTypes.CHAT, user_id, ChatAgentInterface)

    async def process_message(self, request: TurnRequest) -> TurnReply:
        return TurnReply.model_validate(await self._call("ProcessMessage", request))

    async def start_turn(self, request: TurnRequest) -> TurnReply:
        """A long turn: its seq reserved and its reply written in the background."""
        return TurnReply.model_validate(await self._call("StartTurn", request))

    async def turn(self, seq: int) -> TurnView:
        return TurnView.model_validate(await self._call("GetTurn", TurnQuery(seq=seq)))

    async def decide_approval(self, answer: ApprovalAnswer) -> TurnView:
        return TurnView.model_validate(await self._call("DecideApproval", answer))

    async def end_run(self, outcome: RunOutcome) -> bool:
        """A long turn's run reports its result; False: the turn no longer waits for it."""
        return bool((await self._call("EndRun", outcome))["ended"])

    async def save_step(self, job: StepJob) -> bool:
        """A long turn's run keeps its progress; False: the turn no longer waits for it."""
        return bool((await self._call("SaveStep", job))["saved"])

    async def history(self, query: HistoryQuery) -> HistoryView:
        return HistoryView.model_validate(await self._call("GetConversationHistory", query))

    async def delete(self) -> None:
        """Erase the conversation: this actor's state, then ResponseAgent's and Memory's."""
        await self._call("Delete")

    async def summary(self) -> SessionSummary:
        return SessionSummary.model_validate(await self._call("GetSummary"))

    async def export_entries(self, query: ExportQuery) -> ExportPage:
        return ExportPage.model_validate(await self._call("ExportEntries", query))


class ResponseAgentClient(ActorClient):
    def __init__(self, proxies: ProxyFactory, user_id: str) -> None:
        super().__init__(proxies, ActorTypes.RESPONSE, user_id, ResponseAgentInterface)

    async def process_message(self, job: ReplyJob) -> ChatMessage | PausedJob:
        """The reply, or (``PausedJob``) where it stopped for a tool call's approval."""
        answer = await self._call("ProcessMessage", job)
        if isinstance(answer, dict) and "paused" in answer:
            return PausedJob.model_validate(answer)
        return ChatMessage.model_validate(answer)

    async def record_reply(self, job: RecordJob) -> None:
        await self._call("RecordReply", job)

    async def message_count(self) -> int:
        return int(await self._call("GetMessageCount"))

    async def calls(self, query: CallsQuery) -> CallsView:
        return CallsView.model_validate(await self._call("GetCalls", query))

    async def delete(self) -> None:
        await self._call("Delete")


class MemoryAgentClient(ActorClient):
    def __init__(self, proxies: ProxyFactory, user_id: str) -> None:
        super().__init__(proxies, ActorTypes.MEMORY, user_id, MemoryAgentInterface)

    async def window(self) -> list[ChatMessage]:
        return [ChatMessage.model_validate(m) for m in await self._call("GetMemory")]

    async def update(self, event: BaseModel) -> MemoryUpdate:
        return MemoryUpdate.model_validate(await self._call("UpdateMemory", event))

    async def catch_up(self, up_to: int | None = None) -> MemoryView:
        return MemoryView.model_validate(await self._call("CatchUp", CatchUpQuery(up_to=up_to)))

    async def rebuild(self) -> MemoryView:
        return MemoryView.model_validate(await self._call("Rebuild"))

    async def status(self) -> MemoryView:
        return MemoryView.model_validate(await self._call("GetStatus"))

    async def schedule_catch_up(self) -> None:
        await self._call("ScheduleCatchUp")

    async def delete(self) -> None:
        await self._call("Delete")
