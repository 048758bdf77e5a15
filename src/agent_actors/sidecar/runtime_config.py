"""The actor runtime configuration daprd asks the app for (GET /dapr/config), from settings."""

from __future__ import annotations

from datetime import timedelta

from dapr.actor.runtime.config import ActorRuntimeConfig

from agent_actors.settings import ActorSettings


def runtime_config(actors: ActorSettings) -> ActorRuntimeConfig:
    return ActorRuntimeConfig(
        actor_idle_timeout=timedelta(seconds=actors.idle_timeout_s),
        actor_scan_interval=timedelta(seconds=actors.scan_interval_s),
        drain_ongoing_call_timeout=timedelta(seconds=actors.drain_ongoing_call_timeout_s),
        drain_rebalanced_actors=actors.drain_rebalanced_actors,
        reentrancy=None,
    )
