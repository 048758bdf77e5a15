"""The actors' contracts: snake_case in Python, PascalCase on the wire (the tutorial's names).

Every method returns an envelope, ``{"ok": value}`` or ``{"error": {"code", "message"}}``
(see ``boundary.py``): the SDK turns a raised exception into a bare 500, which would lose the
domain error's code on its way back through daprd.
"""

from __future__ import annotations

from typing import Any

from dapr.actor import ActorInterface, actormethod

Envelope = dict[str, Any]


class ChatAgentInterface(ActorInterface):
    @actormethod(name="ProcessMessage")
    async def process_message(self, user_input: dict[str, Any]) -> Envelope: ...

    @actormethod(name="GetConversationHistory")
    async def get_conversation_history(self, query: dict[str, Any]) -> Envelope: ...


class ResponseAgentInterface(ActorInterface):
    @actormethod(name="ProcessMessage")
    async def process_message(self, request: dict[str, Any]) -> Envelope: ...

    @actormethod(name="GetMessageCount")
    async def get_message_count(self) -> Envelope: ...

    @actormethod(name="GetCalls")
    async def get_calls(self, query: dict[str, Any]) -> Envelope: ...


class MemoryAgentInterface(ActorInterface):
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
