"""A private real stack for the integration tests: its own ports, run folder and Redis."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from agent_actors.settings import Settings
from agent_actors.stack.ports import private_settings as stack_settings
from agent_actors.stack.supervisor import Stack

TEST_TOKEN = "integration-test-token"


def private_settings(run_dir: Path, **limits: object) -> Settings:
    settings = stack_settings(run_dir, app_api_token=TEST_TOKEN)
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
        return self.settings.app_url

    @property
    def daprd_url(self) -> str:
        return self.settings.daprd_url


# Short enough that the outbox reminder shows within a test.
TEST_LIMITS = {"republish_interval_s": 1.0}


def app_env_for(limits: dict[str, object]) -> dict[str, str]:
    return {f"AGENT_ACTORS_LIMITS__{k.upper()}": str(v) for k, v in limits.items()}


def start_stack(
    run_dir: Path,
    extra_env: dict[str, str] | None = None,
    components_dir: Path | None = None,
    **limits: object,
) -> Iterator[RunningStack]:
    """Start a private stack; ``extra_env`` goes to the app process (e.g. OPENAI_BASE_URL),
    ``components_dir`` replaces components/ for daprd, ``limits`` override ``Settings.limits``
    fields for the app."""
    merged = {**TEST_LIMITS, **limits}
    settings = private_settings(run_dir, **merged)
    if components_dir is not None:
        settings.stack.components_dir = components_dir
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


def events_delivered(stack: RunningStack, received_before: int) -> bool:
    """The app has received more than ``received_before`` events and answered every one (the
    topic's consumer groups hold no unacked message)."""
    received = stack.app.get("/events/stats").json()["received"]
    groups = stack.redis.xinfo_groups(stack.settings.dapr.topic)
    return bool(received > received_before and all(g["pending"] == 0 for g in groups))
