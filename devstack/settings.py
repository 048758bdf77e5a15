"""The dev stack's settings: the service's own, as the app the stack starts will read them
(daprd is started on the app's ports and app id, and they, the app token and any limits are
passed on to the app), plus the stack's section ``AGENT_ACTORS_STACK__*``: the app's port,
Redis, placement, scheduler, daprd's other listeners, folders, restarts.

``DAPR_BIN_DIR`` is one more well-known name, read as it is through the service's mechanism
(``agent_actors.settings.WellKnownNames``) and winning over ``AGENT_ACTORS_STACK__BIN_DIR``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, Field

from agent_actors.settings import Settings

# The checkout: the stack's defaults (components, run folder, runtime) live in it.
REPO_ROOT = Path(__file__).resolve().parents[1]


class StackSettings(BaseModel):
    """Ports and folders of the local stack that ``make run`` / ``make up`` start.

    Ports other than the documented interfaces (app, daprd, placement, scheduler: Dapr's
    well-known numbers) sit below 32768, outside the kernel's ephemeral range (Linux
    32768-60999, IANA 49152-65535): there an outgoing connection can hold the port, and its
    TIME-WAIT keeps a server from binding it for a minute after a load run."""

    app_host: str = Field("127.0.0.1", description="address uvicorn binds")
    app_port: int = Field(8000, description="app HTTP port")
    redis_port: int = Field(6379, description="Redis port (actor state + pub/sub)")
    placement_port: int = Field(50005, description="placement gRPC port")
    scheduler_port: int = Field(50006, description="scheduler gRPC port")
    scheduler_etcd_client_port: int = Field(22379, description="scheduler's embedded etcd, client")
    scheduler_etcd_peer_port: int = Field(22380, description="scheduler's embedded etcd, peer")
    placement_raft_port: int = Field(28201, description="placement raft port")
    daprd_internal_grpc_port: int = Field(20002, description="daprd internal gRPC port")
    daprd_metrics_port: int = Field(29090, description="daprd metrics port")
    placement_healthz_port: int = Field(28080, description="placement healthz port")
    placement_metrics_port: int = Field(29091, description="placement metrics port")
    scheduler_healthz_port: int = Field(28081, description="scheduler healthz port")
    scheduler_metrics_port: int = Field(29092, description="scheduler metrics port")
    daprd_profile_port: int = Field(27777, description="daprd profiling port (off unless enabled)")
    jaeger_otlp_port: int = Field(
        4318, description="Jaeger's OTLP/HTTP receiver (tracing on: `make run TRACING=1`)"
    )
    jaeger_query_port: int = Field(16686, description="Jaeger's query API and UI (tracing on)")
    jaeger_query_grpc_port: int = Field(16685, description="Jaeger's query gRPC API (tracing on)")
    components_dir: Path = Field(REPO_ROOT / "components", description="daprd --resources-path")
    config_file: Path = Field(
        REPO_ROOT / "components" / "config.yaml", description="daprd --config"
    )
    run_dir: Path = Field(REPO_ROOT / ".run", description="logs, Redis AOF, scheduler data")
    access_log: bool = Field(
        False,
        description="uvicorn's access log, a line per request (off: daprd's several requests "
        "per turn would each cost a log line)",
    )
    bin_dir: Path = Field(
        REPO_ROOT / ".dapr" / "bin",
        description="where daprd, placement, scheduler are built or found (DAPR_BIN_DIR)",
    )
    ready_timeout_s: float = Field(
        90.0,
        description="how long each part may take to be ready, at start and after a restart (a "
        "restarted part not ready by then is killed and counts as an exit)",
    )
    log_level: str = Field("info", description="log level of placement, scheduler, daprd")
    redis_server: str = Field("redis-server", description="name on PATH, or a path")
    restart_backoff_s: float = Field(
        0.5, gt=0, description="delay before restarting a part that exited (doubles per exit)"
    )
    restart_backoff_max_s: float = Field(10.0, gt=0, description="longest delay before a restart")
    restart_limit: int = Field(
        5,
        ge=1,
        description="exits of one part within the restart window that stop the whole stack "
        "(1: stop at the first exit, restart nothing)",
    )
    restart_window_s: float = Field(60.0, gt=0, description="the restart window")
    daprd_gomaxprocs: int = Field(
        1,
        ge=0,
        description="GOMAXPROCS of each daprd (0: Go's default, one per CPU). One app process "
        "keeps its daprd under a core; with more, Go's idle workers spin for work: at 1, daprd "
        "spends 13-33 % less CPU per turn and a second pair on 2 cores serves 25 % more",
    )
    replicas: int = Field(
        1,
        ge=1,
        le=16,
        description="app+daprd pairs (`make run REPLICAS=N`); pair i listens on "
        "pair 0's ports + 100*i (app 8100, daprd 3600/50101, ...)",
    )


class DevSettings(Settings):
    """The service's settings plus the stack's section (same prefix, same environment)."""

    well_known_env: ClassVar[dict[str, tuple[str, str]]] = {
        **Settings.well_known_env,
        "DAPR_BIN_DIR": ("stack", "bin_dir"),
    }

    stack: StackSettings = StackSettings()

    @property
    def app_url(self) -> str:
        return f"http://{self.stack.app_host}:{self.stack.app_port}"

    @property
    def daprd_url(self) -> str:
        return f"http://{self.dapr.host}:{self.dapr.http_port}"


@lru_cache
def get_settings() -> DevSettings:
    return DevSettings()
