"""A private real stack for the integration tests and the benchmarks: every port free now, its
own run folder (so its own Redis data), and always stopped after, by pid. It never collides
with a user's `make up` (8000, 3500, 6379, ...) nor with another private stack."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from agent_actors.settings import DaprSettings
from devstack.pairs import PairPorts, first_pair
from devstack.ports import free_ports, port_fields, stack_ports
from devstack.settings import DevSettings, StackSettings
from devstack.supervisor import Stack


def private_settings(
    run_dir: Path, app_api_token: str | None = None, **limits: object
) -> DevSettings:
    """Settings for a stack of its own: each of the stack's ports and daprd's HTTP and gRPC
    ports free now, ``run_dir`` for its data and logs; ``limits`` set ``Settings.limits``
    fields (``private_stack`` hands them to the app too)."""
    names = port_fields()
    ports = free_ports(len(names) + 2)
    # The runtime where the environment says (DAPR_BIN_DIR), as every other stack finds it: a
    # checkout without .dapr/bin (a git worktree) would otherwise build the runtime again.
    bin_dir = DevSettings().stack.bin_dir
    stack = StackSettings(**dict(zip(names, ports, strict=False)), run_dir=run_dir, bin_dir=bin_dir)
    dapr = DaprSettings(http_port=ports[-2], grpc_port=ports[-1])
    settings = DevSettings(stack=stack, dapr=dapr)
    if app_api_token is not None:
        settings.auth.app_api_token = SecretStr(app_api_token)
    for name, value in limits.items():
        setattr(settings.limits, name, value)
    return settings


def limits_env(limits: Mapping[str, object]) -> dict[str, str]:
    """``Settings.limits`` fields as the app process reads them."""
    return {f"AGENT_ACTORS_LIMITS__{k.upper()}": str(v) for k, v in limits.items()}


def private_pairs(settings: DevSettings) -> list[PairPorts]:
    """Pair 0 on the settings' ports, every further pair on ports free now."""
    pairs = [first_pair(settings)]
    for index in range(1, settings.stack.replicas):
        taken = set(stack_ports(settings, pairs).values())
        pairs.append(PairPorts(index, *free_ports(6, taken)))
    return pairs


@dataclass
class PrivateStack:
    stack: Stack
    settings: DevSettings

    @property
    def app_url(self) -> str:
        return self.settings.app_url

    @property
    def daprd_url(self) -> str:
        return self.settings.daprd_url

    @property
    def app_port(self) -> int:
        return self.settings.stack.app_port

    @property
    def daprd_port(self) -> int:
        return self.settings.dapr.http_port

    @property
    def redis_port(self) -> int:
        return self.settings.stack.redis_port

    @property
    def pairs(self) -> list[PairPorts]:
        return self.stack.pairs

    def pids(self) -> dict[str, int]:
        return {p.name: p.pid for p in self.stack.processes if p.pid is not None}


@contextmanager
def private_stack(
    run_dir: Path,
    *,
    app_api_token: str | None = None,
    app_env: Mapping[str, str] | None = None,
    components_dir: Path | None = None,
    limits: Mapping[str, object] | None = None,
    replicas: int = 1,
    stack_options: Mapping[str, object] | None = None,
    tracing: bool = False,
) -> Iterator[PrivateStack]:
    """Start a private stack and stop it on exit. ``app_env`` goes to the app process (e.g.
    ``OPENAI_BASE_URL``), ``components_dir`` replaces components/ for daprd, ``limits`` set
    ``Settings.limits`` fields for the app and in the yielded settings; no ``app_api_token``:
    the stack makes one of its own (supervisor.py); ``tracing``: a Jaeger of its own too, and
    daprd and the app sending it their spans (devstack/jaeger.py)."""
    limits = dict(limits or {})
    settings = private_settings(run_dir, app_api_token, **limits)
    if components_dir is not None:
        settings.stack.components_dir = components_dir
    settings.stack.replicas = replicas
    settings.tracing.enabled = tracing
    for name, value in (stack_options or {}).items():
        setattr(settings.stack, name, value)
    stack = Stack(
        settings, app_env={**limits_env(limits), **(app_env or {})}, pairs=private_pairs(settings)
    )
    try:
        stack.start()  # on failure it has stopped what it started
        yield PrivateStack(stack, settings)
    finally:
        stack.stop()
