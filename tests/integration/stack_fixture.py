"""A private real stack for the integration tests: its own ports, run folder and Redis."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from agent_actors.settings import DaprSettings, Settings, StackSettings
from agent_actors.stack.ports import free_ports
from agent_actors.stack.supervisor import Stack

TEST_TOKEN = "integration-test-token"
PORT_FIELDS = (
    "app_port", "redis_port", "placement_port", "scheduler_port", "scheduler_etcd_client_port",
    "scheduler_etcd_peer_port", "placement_raft_port", "daprd_internal_grpc_port",
    "daprd_metrics_port", "placement_healthz_port", "placement_metrics_port",
    "scheduler_healthz_port", "scheduler_metrics_port", "daprd_profile_port",
)  # fmt: skip


def private_settings(run_dir: Path, **limits: object) -> Settings:
    ports = free_ports(len(PORT_FIELDS) + 2)
    stack = StackSettings(**dict(zip(PORT_FIELDS, ports, strict=False)), run_dir=run_dir)
    dapr = DaprSettings(http_port=ports[-2], grpc_port=ports[-1])
    settings = Settings(stack=stack, dapr=dapr, app_api_token=TEST_TOKEN)
    for name, value in limits.items():
        setattr(settings.limits, name, value)
    return settings


@dataclass
class RunningStack:
    stack: Stack
    settings: Settings
    app: httpx.Client
    daprd: httpx.Client
    redis: redis.Redis

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.stack.app_port}"

    @property
    def daprd_url(self) -> str:
        return f"http://127.0.0.1:{self.settings.dapr.http_port}"


# Short enough that the outbox reminder and the reorder logic show within a test.
TEST_LIMITS = {"republish_interval_s": 1.0, "reorder_buffer": 8}


def app_env_for(limits: dict[str, object]) -> dict[str, str]:
    return {f"AGENT_ACTORS_LIMITS__{k.upper()}": str(v) for k, v in limits.items()}


def start_stack(
    run_dir: Path, extra_env: dict[str, str] | None = None, **limits: object
) -> Iterator[RunningStack]:
    """Start a private stack; ``extra_env`` goes to the app process (e.g. OPENAI_BASE_URL),
    ``limits`` override ``Settings.limits`` fields for the app."""
    merged = {**TEST_LIMITS, **limits}
    settings = private_settings(run_dir, **merged)
    stack = Stack(settings, app_env={**app_env_for(merged), **(extra_env or {})})
    stack.start()
    try:
        with (
            httpx.Client(base_url=f"http://127.0.0.1:{settings.stack.app_port}", timeout=60) as app,
            httpx.Client(base_url=f"http://127.0.0.1:{settings.dapr.http_port}", timeout=60) as dd,
        ):
            r = redis.Redis(port=settings.stack.redis_port, decode_responses=True)
            yield RunningStack(stack, settings, app, dd, r)
            r.close()
    finally:
        stack.stop()
