"""The app factory: FastAPI with the three actors registered through ``DaprActor``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from dapr.actor import ActorId
from dapr.actor.runtime.context import ActorRuntimeContext
from dapr.ext.fastapi import DaprActor
from fastapi import FastAPI

from agent_actors import logs
from agent_actors.actors.bench_actor import BenchActor
from agent_actors.actors.chat_agent import ChatAgent
from agent_actors.actors.client import PooledActorClient, ProxyFactory
from agent_actors.actors.deps import ActorDeps
from agent_actors.actors.memory_agent import MemoryAgentActor
from agent_actors.actors.response_agent import ResponseAgent
from agent_actors.actors.serializer import SERIALIZER
from agent_actors.api import (
    auth,
    cache,
    calls,
    chat,
    errors,
    memory,
    schemas,
    stream,
    subscription,
    views,
)
from agent_actors.api.auth import SidecarTokenMiddleware
from agent_actors.errors import Misconfigured
from agent_actors.events.dead_letters import dapr_dead_letters
from agent_actors.events.publisher import DaprPublisher, Publisher
from agent_actors.llm.factory import build_responder
from agent_actors.llm.responder import Responder
from agent_actors.settings import Settings, get_settings
from agent_actors.sidecar import Sidecar

ACTORS = (ChatAgent, ResponseAgent, MemoryAgentActor)


def create_app(
    settings: Settings | None = None,
    *,
    publisher: Publisher | None = None,
    responder: Responder | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    logs.configure(settings)
    try:
        auth.check_startup(settings.auth)
    except Misconfigured as exc:
        # uvicorn --factory prints a traceback for any other exception; this prints the sentence
        # alone and exits with status 1.
        raise SystemExit(exc.message) from exc

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sidecar = Sidecar(settings.dapr)
        await sidecar.start()
        try:
            client = PooledActorClient(sidecar)
            deps = ActorDeps(
                settings=settings,
                proxies=ProxyFactory(client),
                publisher=publisher
                or DaprPublisher(sidecar, settings.dapr.pubsub_name, settings.dapr.topic),
                responder=responder or build_responder(settings),
                dead_letters=dapr_dead_letters(sidecar, settings),
            )
            app.state.deps = deps
            for actor_cls in actor_types(settings):
                await dapr_actor.register_actor(
                    actor_cls,
                    actor_factory=_factory(actor_cls, deps),
                    # Our pooled client: the SDK's default would block this loop on a health
                    # poll until daprd answers, and daprd waits for this app to listen.
                    actor_client=client,
                    message_serializer=SERIALIZER,
                    state_serializer=SERIALIZER,
                )
            yield
            closer = getattr(deps.responder, "aclose", None)
            if closer is not None:
                await closer()
        finally:
            await sidecar.close()

    app = FastAPI(
        title="agent-actors",
        description="AI chat agents as Dapr virtual actors",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.subscription_stats = schemas.SubscriptionStats()
    dapr_actor = DaprActor(app)
    app.include_router(chat.router)
    app.include_router(views.router)
    app.include_router(stream.router)
    app.include_router(calls.router)
    app.include_router(cache.router)
    app.include_router(subscription.router)
    app.include_router(memory.router)
    errors.install(app)
    if settings.auth.app_api_token is not None:
        app.add_middleware(
            SidecarTokenMiddleware, token=settings.auth.app_api_token.get_secret_value()
        )
    return app


def actor_types(settings: Settings) -> tuple[type, ...]:
    """The three actors; with ``bench_actor`` on, also the no-op BenchActor (`make bench`)."""
    return (*ACTORS, BenchActor) if settings.bench_actor else ACTORS


def _factory(actor_cls: type, deps: ActorDeps):  # type: ignore[no-untyped-def]
    def build(ctx: ActorRuntimeContext, actor_id: ActorId) -> object:
        return actor_cls(ctx, actor_id, deps)

    return build
