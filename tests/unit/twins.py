"""In-memory twins for unit tests: daprd's actor routing (SDK mock actors behind proxies)."""

from __future__ import annotations

import asyncio
import inspect
from types import SimpleNamespace
from typing import Any

from dapr.actor.runtime.mock_actor import create_mock_actor

from agent_actors.actors.chat_agent import ChatAgent
from agent_actors.actors.memory_agent import MemoryAgentActor
from agent_actors.actors.response_agent import ResponseAgent
from agent_actors.actors.services import ActorDeps
from agent_actors.errors import ActorUnavailable
from agent_actors.events.publisher import InMemoryPublisher
from agent_actors.llm.offline import OfflineResponder
from agent_actors.models import ActorTypes
from agent_actors.settings import Settings
from agent_actors.sidecar.serializer import SERIALIZER
from agent_actors.store.dead_letters import DeadLetterStore, InMemoryStateStore
from agent_actors.store.session_index import SessionIndex
from agent_actors.store.session_threads import SessionThreads

TYPES: dict[str, type] = {
    ActorTypes.CHAT: ChatAgent,
    ActorTypes.RESPONSE: ResponseAgent,
    ActorTypes.MEMORY: MemoryAgentActor,
}


class LocalActors:
    """Routes proxy calls to SDK mock actors, one turn at a time per actor, and saves state
    after a successful call as the SDK's runtime does."""

    def __init__(self) -> None:
        self.actors: dict[tuple[str, str], Any] = {}
        self.locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.deps: ActorDeps | None = None

    def actor(self, actor_type: str, actor_id: str) -> Any:
        key = (actor_type, actor_id)
        if key not in self.actors:
            instance = create_mock_actor(TYPES[actor_type], actor_id)
            # What the SDK's runtime context offers an actor that reads another's state.
            instance._runtime_ctx = SimpleNamespace(
                state_provider=SimpleNamespace(try_load_state=self.try_load_state)
            )
            assert self.deps is not None
            instance._bind(self.deps)
            self.actors[key] = instance
            self.locks[key] = asyncio.Lock()
        return self.actors[key]

    async def try_load_state(self, actor_type: str, actor_id: str, key: str) -> tuple[bool, Any]:
        """Committed state only, as daprd's actor state API returns it."""
        state = self.actor(actor_type, actor_id)._state_manager._mock_state
        return (key in state, state.get(key))

    def check_size(self, method: str, what: str, payload: Any) -> None:
        """daprd refuses a request body over its max body size, and an answer from another
        replica's actor travels under the same bound: the twin refuses both, as the SDK would
        encode them."""
        assert self.deps is not None
        limit = self.deps.settings.dapr.max_body_bytes
        size = len(SERIALIZER.serialize(payload)) if payload is not None else 0
        if size > limit:
            raise ActorUnavailable(f"{method}'s {what} has {size} bytes; daprd takes {limit}")

    def create(self, actor_type: str, actor_id: str, interface: type) -> LocalProxy:
        return LocalProxy(self, actor_type, actor_id, interface)


class LocalProxy:
    def __init__(self, actors: LocalActors, actor_type: str, actor_id: str, interface: type):
        self._actors, self._type, self._id = actors, actor_type, actor_id
        self._names = {
            getattr(fn, "__actormethod__", None): name
            for name, fn in inspect.getmembers(interface, inspect.isfunction)
        }

    def __getattr__(self, wire_name: str) -> Any:
        method_name = self._names[wire_name]

        async def call(*args: Any) -> Any:
            actor = self._actors.actor(self._type, self._id)
            self._actors.check_size(wire_name, "request", args[0] if args else None)
            async with self._actors.locks[(self._type, self._id)]:
                result = await getattr(actor, method_name)(*args)
                await actor._state_manager.save_state()
            self._actors.check_size(wire_name, "answer", result)
            return result

        return call


def make_deps(settings: Settings | None = None) -> tuple[ActorDeps, LocalActors, InMemoryPublisher]:
    actors = LocalActors()
    publisher = InMemoryPublisher()
    deps = ActorDeps(
        settings=settings or Settings(),
        proxies=actors,  # type: ignore[arg-type]
        publisher=publisher,
        responder=OfflineResponder(),
        dead_letters=DeadLetterStore(InMemoryStateStore(), kept=100),
        threads=SessionThreads(InMemoryStateStore(), actors.try_load_state),
        sessions=SessionIndex(
            InMemoryStateStore(), (settings or Settings()).limits, actors.try_load_state
        ),
    )
    actors.deps = deps
    return deps, actors, publisher
