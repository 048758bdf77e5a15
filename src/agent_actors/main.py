"""The app factory: FastAPI with the three actors registered through ``DaprActor``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from dapr.actor import ActorId
from dapr.actor.runtime.context import ActorRuntimeContext
from dapr.actor.runtime.runtime import ActorRuntime
from dapr.ext.fastapi import DaprActor
from fastapi import FastAPI

from agent_actors import logs, tracing
from agent_actors.actors.bench_actor import BenchActor
from agent_actors.actors.chat_agent import ChatAgent
from agent_actors.actors.memory_agent import MemoryAgentActor
from agent_actors.actors.response_agent import ResponseAgent
from agent_actors.actors.runs import TurnRuns
from agent_actors.actors.services import ActorDeps
from agent_actors.api import auth, http_errors, schemas
from agent_actors.api.middleware.actor_calls import ActorMethodCalls
from agent_actors.api.middleware.body_limit import BodyLimit
from agent_actors.api.middleware.event_deliveries import EventDeliveries
from agent_actors.api.middleware.sidecar_token import SidecarTokenMiddleware
from agent_actors.api.middleware.sidecar_watch import SidecarWatch
from agent_actors.api.routes import (
    agents,
    calls,
    chat,
    events,
    inspect,
    memory,
    prometheus,
    response,
    sessions,
    stream,
    subscription,
    tasks,
    turns,
)
from agent_actors.api.routes import ui as inspector
from agent_actors.errors import Misconfigured
from agent_actors.events.publisher import DaprPublisher, Publisher
from agent_actors.events.task_messages import DaprTaskBus
from agent_actors.llm.factory import build_responder
from agent_actors.llm.profiles import ProfileBook, load_book
from agent_actors.llm.responder import Responder
from agent_actors.llm.tools import DEFAULT_TOOLS
from agent_actors.settings import Settings, StreamSettings, get_settings
from agent_actors.sidecar.actor_client import PooledActorClient, ProxyFactory
from agent_actors.sidecar.client import Sidecar
from agent_actors.sidecar.runtime_config import runtime_config
from agent_actors.sidecar.serializer import SERIALIZER
from agent_actors.store.dead_letters import DaprStateStore, dapr_dead_letters
from agent_actors.store.session_index import SessionIndex
from agent_actors.store.session_threads import SessionThreads
from agent_actors.store.task_letters import TaskLetterStore
from agent_actors.streams.hub import StreamHub
from agent_actors.streams.turn_log import TurnLog

ACTORS = (ChatAgent, ResponseAgent, MemoryAgentActor)


def create_app(
    settings: Settings | None = None,
    *,
    publisher: Publisher | None = None,
    responder: Responder | None = None,
    profiles: ProfileBook | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    logs.configure(settings)
    try:
        auth.check_startup(settings.auth)
        # Read and checked once, here: a bad agents file stops the start with its reason.
        profiles = profiles or load_book(
            settings.agents.file, DEFAULT_TOOLS.names, settings.limits.memory_window
        )
    except Misconfigured as exc:
        # uvicorn --factory prints a traceback for any other exception; this prints the sentence
        # alone and exits with status 1.
        raise SystemExit(exc.message) from exc
    tracer_provider = tracing.configure(settings.tracing, settings.dapr.app_id)
    # What the app's parts share while it runs, made here, one of each per app (never a
    # module's global): apps built side by side in one process (the unit tests) stay apart.
    streams = StreamHub()
    runs = TurnRuns()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        sidecar = Sidecar(settings.dapr, tracer_provider)
        await sidecar.start()
        try:
            client = PooledActorClient(sidecar)
            deps = ActorDeps(
                settings=settings,
                proxies=ProxyFactory(client),
                publisher=publisher
                or DaprPublisher(sidecar, settings.dapr.pubsub_name, settings.dapr.topic),
                responder=responder or build_responder(settings, profiles, streams),
                dead_letters=dapr_dead_letters(sidecar, settings),
                threads=SessionThreads(
                    DaprStateStore(sidecar, settings.dapr.state_store), client.try_load_state
                ),
                sessions=SessionIndex(
                    DaprStateStore(sidecar, settings.dapr.state_store),
                    settings.limits,
                    client.try_load_state,
                )
                if settings.limits.session_index
                else None,
                profiles=profiles,
                runs=runs,
                streams=streams,
                saved_state=client.try_load_state,
                tasks=DaprTaskBus(
                    sidecar,
                    settings.dapr.pubsub_name,
                    settings.dapr.task_topic,
                    settings.dapr.reply_pubsub_name,
                    settings.dapr.reply_topic,
                ),
                task_letters=TaskLetterStore(
                    DaprStateStore(sidecar, settings.dapr.state_store),
                    settings.limits.dead_letters_kept,
                ),
            )
            app.state.deps = deps
            app.state.sidecar = sidecar
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
            await _start_streams(streams, settings.streams)
            yield
            await streams.stop_log()
            await streams.stop_relay()
            closer = getattr(deps.responder, "aclose", None)
            if closer is not None:
                await closer()
        finally:
            await sidecar.close()
            tracing.shutdown(tracer_provider)

    app = FastAPI(
        title="agent-actors",
        description="AI chat agents as Dapr virtual actors",
        lifespan=lifespan,
        responses=http_errors.responses(500),
        # FastAPI's own OpenTelemetry hooks are off: tracing.py instruments the app when
        # tracing is on, and left on they look up the global providers (os.environ) on every
        # request, a measurable share of the app's CPU under load (docs/BENCHMARKS.md).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.subscription_stats = schemas.SubscriptionStats()
    app.state.streams = streams
    app.state.stream_turns = set()
    ActorRuntime.set_actor_config(runtime_config(settings.actors))
    dapr_actor = DaprActor(app)
    app.include_router(chat.router)
    app.include_router(turns.router)
    app.include_router(sessions.router)
    app.include_router(agents.router)
    app.include_router(stream.router)
    app.include_router(calls.router)
    app.include_router(response.router)
    app.include_router(memory.router)
    app.include_router(events.router)
    app.include_router(inspect.router)
    app.include_router(subscription.router)
    app.include_router(tasks.router)
    app.include_router(tasks.deliveries)
    app.include_router(prometheus.router)
    app.include_router(inspector.router)
    auth.hide_sidecar_routes(app)
    http_errors.install(app)
    # Innermost: behind the sidecar-token check and tracing, before FastAPI's routing (the
    # two paths daprd takes on every turn: actor methods, and event deliveries).
    app.add_middleware(ActorMethodCalls)
    app.add_middleware(EventDeliveries)
    token = settings.auth.app_api_token
    app.add_middleware(SidecarWatch, token=None if token is None else token.get_secret_value())
    # Outermost after the token check: nothing below reads a body over the limit.
    app.add_middleware(
        BodyLimit,
        max_bytes=settings.limits.max_body_bytes,
        sidecar_max_bytes=settings.dapr.max_body_bytes,
    )
    if settings.auth.app_api_token is not None:
        app.add_middleware(
            SidecarTokenMiddleware, token=settings.auth.app_api_token.get_secret_value()
        )
    if tracer_provider is not None:
        tracing.instrument_app(app, tracer_provider)
    return app


async def _start_streams(streams: StreamHub, s: StreamSettings) -> None:
    """The relay and the turn log, on one Redis (``streams.relay_url``); neither without it."""
    if not s.relay_url:
        return
    await streams.start_relay(s.relay_url, s.relay_outbox_max)
    if s.turn_log:
        log = TurnLog(
            s.relay_url,
            s.turn_log_max_events,
            s.turn_log_ttl_s,
            s.turn_log_max_connections,
            s.turn_log_wait_s,
        )
        await streams.start_log(log, s.relay_outbox_max)


def actor_types(settings: Settings) -> tuple[type, ...]:
    """The three actors; with ``bench_actor`` on, also the no-op BenchActor (`make bench`)."""
    return (*ACTORS, BenchActor) if settings.bench_actor else ACTORS


def _factory(actor_cls: type, deps: ActorDeps):  # type: ignore[no-untyped-def]
    def build(ctx: ActorRuntimeContext, actor_id: ActorId) -> object:
        return actor_cls(ctx, actor_id, deps)

    return build
