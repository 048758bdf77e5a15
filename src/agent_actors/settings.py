"""The one settings object. Nothing else in the package reads ``os.environ``.

Every field can be set from the environment: top-level fields with the ``AGENT_ACTORS_``
prefix, nested ones with ``__`` (``AGENT_ACTORS_LIMITS__HISTORY_VIEW=10``). A few names that
Dapr and OpenAI users already know are read as they are (``APP_API_TOKEN``,
``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``OPENAI_MODEL``, ``DAPR_BIN_DIR``).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import AliasChoices, BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]


class DaprSettings(BaseModel):
    """Where the app finds its sidecar and what it calls things on the wire."""

    app_id: str = Field("agent-actors", description="Dapr app id")
    host: str = Field("127.0.0.1", description="daprd's address as the app sees it")
    http_port: int = Field(3500, description="daprd HTTP port")
    grpc_port: int = Field(50001, description="daprd gRPC port")
    pubsub_name: str = Field("daca-pubsub", description="pub/sub component name")
    topic: str = Field("user-chat", description="topic of ConversationUpdated")
    dead_letter_topic: str = Field("user-chat-deadletter", description="dead-letter topic")
    state_store: str = Field("statestore", description="state store component (dead letters)")
    actor_call_timeout_s: float = Field(
        60.0, gt=0, description="timeout of one call to daprd (actor calls, publish)"
    )


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
    components_dir: Path = Field(REPO_ROOT / "components", description="daprd --resources-path")
    config_file: Path = Field(
        REPO_ROOT / "components" / "config.yaml", description="daprd --config"
    )
    run_dir: Path = Field(REPO_ROOT / ".run", description="logs, Redis AOF, scheduler data")
    bin_dir: Path = Field(
        default=REPO_ROOT / ".dapr" / "bin",
        validation_alias=AliasChoices("bin_dir", "DAPR_BIN_DIR"),
        description="where daprd, placement, scheduler are built or found (DAPR_BIN_DIR)",
    )
    ready_timeout_s: float = Field(90.0, description="how long each part may take to be ready")
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


class LimitSettings(BaseModel):
    """Bounds that keep every turn's cost and every input's size in check."""

    history_view: int = Field(5, ge=1, description="entries GET /chat/{id}/history returns")
    history_view_max: int = Field(200, ge=1, description="largest ?limit= accepted")
    history_page_size: int = Field(
        20, ge=2, description="history entries per stored page (a turn rewrites one page)"
    )
    memory_window: int = Field(3, ge=1, description="entries MemoryAgentActor keeps")
    prompt_history: int = Field(10, ge=0, description="recent entries passed to the responder")
    max_content_chars: int = Field(8000, ge=1, description="largest message content")
    max_id_chars: int = Field(64, ge=1, description="longest user id")
    dead_letters_kept: int = Field(
        100, ge=1, description="dead letters kept per user, and unparseable ones overall"
    )
    republish_interval_s: float = Field(
        5.0, gt=0, description="outbox reminder period after a failed publish"
    )
    outbox_watchdog_s: float = Field(
        60.0, gt=0, description="outbox reminder period while a user is active (crash cover)"
    )
    post_commit_timeout_s: float = Field(
        5.0,
        gt=0,
        description="budget for a turn's work after its commit (publish, reminder, "
        "bookkeeping); past it the outbox catches up later and the turn still succeeds",
    )
    idempotency_keys: int = Field(
        100, ge=1, description="Idempotency-Key values remembered per user (the newest)"
    )
    max_idempotency_key_chars: int = Field(
        200, ge=1, description="longest Idempotency-Key header value"
    )
    max_reply_chars: int = Field(
        16000, ge=1, description="largest reply stored; a longer model reply is a 502, not saved"
    )


class AuthSettings(BaseModel):
    """Tokens: the sidecar's app token, and optional API keys for the public API."""

    app_api_token: SecretStr | None = Field(
        None,
        description="token daprd sends; /actors/* and /subscribe* require it (APP_API_TOKEN); "
        "required when API keys are set",
    )
    api_keys: dict[str, str] = Field(
        default_factory=dict,
        repr=False,
        description='JSON {"<key>": "user1,user2"} ("*": any user, an admin key); set: every '
        "/{id} route needs `Authorization: Bearer <key>` bound to that id, /events/stats an "
        "admin key",
    )

    @field_validator("app_api_token")
    @classmethod
    def _empty_token_is_unset(cls, token: SecretStr | None) -> SecretStr | None:
        # An empty token would admit every caller that sends none: treat it as no token.
        return token if token is not None and token.get_secret_value() else None


class LlmSettings(BaseModel):
    """The responder: offline (default) or any OpenAI-compatible server."""

    base_url: str | None = Field(None, description="OpenAI-compatible server (OPENAI_BASE_URL)")
    api_key: SecretStr | None = Field(
        None, description="its API key (OPENAI_API_KEY); never logged"
    )
    model: str = Field("gpt-4o-mini", description="model name sent to the server (OPENAI_MODEL)")
    system_prompt: str = Field(
        "You are a helpful assistant in a chat service. Answer briefly and truthfully. Use the "
        "tools when the user asks about the time or about what they said earlier.",
        description="the system message that starts every prompt",
    )
    timeout_s: float = Field(20.0, gt=0, description="one model request's timeout")
    max_retries: int = Field(2, ge=0, description="retries of a request that failed transiently")
    retry_backoff_s: float = Field(0.5, ge=0, description="first retry delay (doubles each time)")
    turn_timeout_s: float = Field(
        40.0,
        gt=0,
        description="budget for all model calls of one turn; keep under the actor "
        "call timeout (60 s)",
    )
    max_tool_steps: int = Field(4, ge=0, description="tool rounds per turn (0: no tools offered)")
    max_repairs: int = Field(2, ge=0, description="re-asks per turn after an invalid tool call")
    max_output_tokens: int | None = Field(
        1024, ge=1, description="max_tokens per request (bounds a reply's cost and size)"
    )
    temperature: float | None = Field(
        None, ge=0, description="sampling temperature (unset: server's)"
    )
    stream_usage: bool = Field(
        True, description="ask for token usage in streamed answers (stream_options.include_usage)"
    )
    calls_kept: int = Field(200, ge=1, description="model-call records kept per user")
    calls_page_size: int = Field(20, ge=1, description="model-call records per stored page")
    search_max_pages: int = Field(
        4, ge=1, description="history pages one search_history tool call reads, newest first"
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AGENT_ACTORS_",
        env_nested_delimiter="__",
        populate_by_name=True,
        extra="ignore",
    )

    log_level: str = Field("INFO", description="the app's log level")
    log_json: bool = Field(False, description="JSON log lines (for containers)")
    # Registers the no-op BenchActor for `make bench` (W0); off: exactly the three actor types.
    bench_actor: bool = Field(False, description="register the no-op BenchActor (make bench)")
    dapr: DaprSettings = DaprSettings()
    stack: StackSettings = StackSettings()
    limits: LimitSettings = LimitSettings()
    auth: AuthSettings = AuthSettings()
    llm: LlmSettings = LlmSettings()

    # Well-known names read without the prefix.
    app_api_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("APP_API_TOKEN", "app_api_token")
    )
    openai_base_url: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_BASE_URL", "openai_base_url")
    )
    openai_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_API_KEY", "openai_api_key")
    )
    openai_model: str | None = Field(
        default=None, validation_alias=AliasChoices("OPENAI_MODEL", "openai_model")
    )
    dapr_bin_dir: Path | None = Field(
        default=None, validation_alias=AliasChoices("DAPR_BIN_DIR", "dapr_bin_dir")
    )

    @property
    def app_url(self) -> str:
        return f"http://{self.stack.app_host}:{self.stack.app_port}"

    @property
    def daprd_url(self) -> str:
        return f"http://{self.dapr.host}:{self.dapr.http_port}"

    def model_post_init(self, _context: object) -> None:
        # The well-known names win over the nested defaults, so users of Dapr and OpenAI
        # configure the service the way they configure everything else.
        if self.app_api_token is not None and self.app_api_token.get_secret_value():
            self.auth.app_api_token = self.app_api_token
        if self.openai_base_url:
            self.llm.base_url = self.openai_base_url
        if self.openai_api_key is not None and self.openai_api_key.get_secret_value():
            # An empty OPENAI_API_KEY (a Secret without the key, say) means unset, not "use
            # OpenAI with an empty key".
            self.llm.api_key = self.openai_api_key
        if self.openai_model:
            self.llm.model = self.openai_model
        if self.dapr_bin_dir is not None:
            self.stack.bin_dir = self.dapr_bin_dir


@lru_cache
def get_settings() -> Settings:
    return Settings()
