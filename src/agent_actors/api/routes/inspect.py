"""/inspect/...: what this process and its daprd hold, for the inspector page (``/ui``).

``GET /inspect/{id}/cache`` shows the state keys a user's actors keep cached in this process.
``GET /inspect/runtime`` shows what the Dapr dashboard showed, from daprd's own metadata:
daprd answers ``GET /v1.0/metadata`` with the app id, its version, the actor types it hosts
with their active counts, the components it loaded and the subscriptions it made; the route
passes on those parts (no component metadata: it can name hosts). Counts are this app's
daprd's: with several replicas, each shows its own.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from agent_actors.api.deps import AnyKey, SettingsDep, UserId
from agent_actors.api.http_errors import responses
from agent_actors.settings import Settings
from agent_actors.sidecar.client import Sidecar
from agent_actors.sidecar.state_cache import resident_keys_of

router = APIRouter(tags=["inspect"])
NOT_HERE = "null: the actor is not active in this process"


class CacheView(BaseModel):
    """The state keys each of the user's actors keeps cached, by actor type."""

    ChatAgent: list[str] | None = Field(description=NOT_HERE)
    ResponseAgent: list[str] | None = Field(description=NOT_HERE)
    MemoryAgentActor: list[str] | None = Field(description=NOT_HERE)


@router.get("/inspect/{id}/cache", responses=responses(401, 403, 422))
async def state_cache(id: UserId) -> CacheView:
    """The state keys each of the user's actors keeps cached in this app process (null: the
    actor is not active here); bounded whatever the conversation's length."""
    return CacheView.model_validate(resident_keys_of(id))


class ActorTypeCount(BaseModel):
    type: str
    count: int = Field(description="instances active in this app's daprd")


class ComponentInfo(BaseModel):
    name: str
    type: str = Field(description="e.g. state.redis, pubsub.redis")
    version: str = ""


class SubscriptionInfo(BaseModel):
    pubsub: str
    topic: str
    routes: list[str] = Field(description="the app's routes the events go to")
    dead_letter_topic: str | None = None


class RuntimeView(BaseModel):
    app_id: str
    runtime_version: str
    actor_runtime: str = Field(description="daprd's actor runtime status (RUNNING when ready)")
    placement: str = Field(description="daprd's connection to placement")
    actors: list[ActorTypeCount]
    components: list[ComponentInfo]
    subscriptions: list[SubscriptionInfo]
    trace_url: str | None = Field(
        None,
        description="where a turn's trace is shown, `{trace_id}` to be filled in (null: "
        "tracing is off)",
    )


async def get_sidecar(request: Request) -> Sidecar:
    sidecar: Sidecar = request.app.state.sidecar
    return sidecar


SidecarDep = Annotated[Sidecar, Depends(get_sidecar)]


@router.get("/inspect/runtime", dependencies=[AnyKey], responses=responses(401, 503))
async def runtime(sidecar: SidecarDep, settings: SettingsDep) -> RuntimeView:
    """The app id, its actor types and active counts, components and subscriptions, as this
    app's daprd reports them (with API keys: any known key)."""
    metadata = json.loads(await sidecar.call("GET", "/v1.0/metadata"))
    return runtime_view(metadata, trace_url(settings))


def trace_url(settings: Settings) -> str | None:
    tracing = settings.tracing
    if not tracing.enabled or not tracing.ui_url:
        return None
    return f"{tracing.ui_url.rstrip('/')}/trace/{{trace_id}}"


def runtime_view(metadata: dict[str, Any], trace: str | None = None) -> RuntimeView:
    actor_runtime = metadata.get("actorRuntime") or {}
    # ``actors`` is the older field; 1.18 still fills it, ``actorRuntime.activeActors`` too.
    actors = actor_runtime.get("activeActors") or metadata.get("actors") or []
    return RuntimeView(
        app_id=str(metadata.get("id", "")),
        runtime_version=str(metadata.get("runtimeVersion", "")),
        actor_runtime=str(actor_runtime.get("runtimeStatus", "")),
        placement=str(actor_runtime.get("placement", "")),
        actors=[ActorTypeCount(type=a["type"], count=a.get("count", 0)) for a in actors],
        components=[
            ComponentInfo(name=c["name"], type=c.get("type", ""), version=c.get("version", ""))
            for c in metadata.get("components") or []
        ],
        subscriptions=[subscription(s) for s in metadata.get("subscriptions") or []],
        trace_url=trace,
    )


def subscription(raw: dict[str, Any]) -> SubscriptionInfo:
    return SubscriptionInfo(
        pubsub=raw.get("pubsubname", ""),
        topic=raw.get("topic", ""),
        routes=[r["path"] for r in raw.get("rules") or [] if r.get("path")],
        dead_letter_topic=raw.get("deadLetterTopic") or None,
    )
