"""BenchActor: a no-op actor for ``make bench`` (W0, the limit of the machinery underneath).

Registered only when ``Settings.bench_actor`` is on (``AGENT_ACTORS_BENCH_ACTOR=1``): a call
to ``Ping`` goes through daprd, placement's table and the SDK's actor runtime exactly like a
chat actor's call, and does nothing else (no state, no outbound call).
"""

from __future__ import annotations

from dapr.actor import Actor, ActorId, ActorInterface, actormethod
from dapr.actor.runtime.context import ActorRuntimeContext

BENCH = "BenchActor"


class BenchActorInterface(ActorInterface):
    @actormethod(name="Ping")  # type: ignore[untyped-decorator]
    async def ping(self) -> None: ...


class BenchActor(Actor, BenchActorInterface):
    def __init__(self, ctx: ActorRuntimeContext, actor_id: ActorId, _deps: object = None) -> None:
        super().__init__(ctx, actor_id)

    async def ping(self) -> None:
        return None
