"""The integration tests' private real stack (devstack/private.py): its own ports, run folder
and Redis, with clients for the app, daprd and Redis."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from devstack import private
from devstack.private import PrivateStack, private_stack
from devstack.settings import DevSettings

TEST_TOKEN = "integration-test-token"


def private_settings(run_dir: Path, **limits: object) -> DevSettings:
    return private.private_settings(run_dir, TEST_TOKEN, **limits)


@dataclass
class RunningStack(PrivateStack):
    app: httpx.Client
    daprd: httpx.Client
    redis: redis.Redis


# Short enough that the outbox reminder shows within a test.
TEST_LIMITS = {"republish_interval_s": 1.0}


def start_stack(
    run_dir: Path,
    extra_env: dict[str, str] | None = None,
    components_dir: Path | None = None,
    replicas: int = 1,
    stack_options: dict[str, object] | None = None,
    **limits: object,
) -> Iterator[RunningStack]:
    """Start a private stack; ``extra_env`` goes to the app process (e.g. OPENAI_BASE_URL),
    ``components_dir`` replaces components/ for daprd, ``limits`` override ``Settings.limits``
    fields for the app; ``replicas`` app+daprd pairs (``app``/``daprd`` talk to pair 0)."""
    with (
        private_stack(
            run_dir,
            app_api_token=TEST_TOKEN,
            app_env=extra_env,
            components_dir=components_dir,
            limits={**TEST_LIMITS, **limits},
            replicas=replicas,
            stack_options=stack_options,
        ) as running,
        httpx.Client(base_url=running.app_url, timeout=60) as app,
        httpx.Client(base_url=running.daprd_url, timeout=60) as daprd,
    ):
        r = redis.Redis(port=running.redis_port, decode_responses=True)
        yield RunningStack(running.stack, running.settings, app, daprd, r)
        r.close()


def stub_agents_env(
    stub_url: str, run_dir: Path, agents: str, turn_timeout_s: float
) -> dict[str, str]:
    """The app's environment for a stack answering through the OpenAI-protocol stub with an
    agents file of the test's own (written into ``run_dir``)."""
    path = run_dir / "agents.yaml"
    path.write_text(agents)
    return {
        "OPENAI_BASE_URL": stub_url,
        "OPENAI_API_KEY": "test-key",
        "OPENAI_MODEL": "stub-model",
        "AGENT_ACTORS_AGENTS__FILE": str(path),
        "AGENT_ACTORS_LLM__TURN_TIMEOUT_S": f"{turn_timeout_s:g}",
    }


def events_delivered(stack: RunningStack, received_before: int) -> bool:
    """The app has received more than ``received_before`` events and answered every one (the
    topic's consumer groups hold no unacked message)."""
    received = stack.app.get("/events/stats").json()["received"]
    groups = stack.redis.xinfo_groups(stack.settings.dapr.topic)
    return bool(received > received_before and all(g["pending"] == 0 for g in groups))
