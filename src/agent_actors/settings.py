"""The one settings object. Nothing else in the package reads ``os.environ``.

Every field can be set from the environment: top-level fields with the ``AGENT_ACTORS_``
prefix, nested ones with ``__`` (``AGENT_ACTORS_LIMITS__HISTORY_VIEW=10``). A few names that
Dapr and OpenAI users already know are read as they are and win over the prefixed ones
(``APP_API_TOKEN``, ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``OPENAI_MODEL``: one settings
source, ``WellKnownNames``). The service's settings only: the dev stack's (ports of Redis and
the control plane, folders, restarts) are in ``devstack/settings.py``.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

# The smallest max body size accepted: a history entry of the default limits (16,000
# characters at up to 12 bytes each in an actor payload) must fit with room to spare.
MIN_BODY_BYTES = 256 * 1024
# What an actor payload keeps for everything beside the entries it carries (the envelope, its
# other fields): the rest of daprd's max body size is the entries' budget (store/payload.py).
PAYLOAD_HEADROOM = 16 * 1024
# An actor payload writes a character as up to 12 bytes (JSON escapes every non-ASCII one:
# \u00e9, an emoji as a surrogate pair); an entry adds its field names around it.
BYTES_PER_CHAR = 12
ENTRY_OVERHEAD = 64


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
    max_body_bytes: int = Field(
        4 * 1024 * 1024,
        ge=MIN_BODY_BYTES,
        description="daprd's max body size in bytes (its `--max-body-size`; in Kubernetes the "
        "`dapr.io/max-body-size` annotation, which must say the same): the local stack starts "
        "daprd with it, and actor calls whose size follows the conversation (history, export, "
        "prompt history, call log) are split to stay under it, counted in encoded bytes",
    )


# The fields of a message beside its content (role, agent, JSON punctuation), generously.
MESSAGE_OVERHEAD_BYTES = 4096


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
    max_turns: int | None = Field(
        None, ge=1, description="turns per conversation (unset: no bound); past it a 409 turn_limit"
    )
    index_bucket_s: float = Field(
        60.0,
        gt=0,
        description="the session index's time buckets: a user's entry is updated at most "
        "once per bucket (GET /sessions orders by it)",
    )
    index_shards: int = Field(16, ge=1, description="keys each session-index bucket is split into")
    index_horizon_days: int = Field(
        30, ge=1, description="how far back GET /sessions looks for sessions (days)"
    )
    index_page_keys: int = Field(
        1000,
        ge=1,
        description="keys one GET /sessions page reads at most, about (index shards, "
        "conversations checked): past it the page ends early, with a next_after to go on from",
    )
    session_index: bool = Field(
        True, description="keep the session index (off: GET /sessions lists nothing)"
    )
    retention_s: float | None = Field(
        None,
        gt=0,
        description="a conversation idle this long is erased as DELETE /chat/{id} does "
        "(a reminder per conversation; unset: kept for ever)",
    )
    long_turn_timeout_s: float = Field(
        600.0,
        gt=0,
        description="budget of a long turn's model work (`Prefer: respond-async`, or after an "
        "approval), run outside any actor call; past it the turn fails (responder_timeout)",
    )
    turn_check_s: float = Field(
        5.0,
        gt=0,
        description="period of a long turn's reminder: how soon a turn whose app crashed is "
        "marked failed, and how precisely an approval deadline is kept",
    )
    turn_wait_max_s: float = Field(
        30.0, gt=0, description="longest long-poll of GET /chat/{id}/turns/{seq}?wait="
    )
    approval_timeout_s: float = Field(
        600.0,
        gt=0,
        description="how long a tool call waits for a person's approval; then it is denied",
    )
    max_body_bytes: int = Field(
        256 * 1024,
        ge=1024,
        description="largest request body of the public API, in bytes (413 body_too_large, "
        "before it is read)",
    )

    @model_validator(mode="after")
    def _body_holds_a_message(self) -> LimitSettings:
        # A client may escape every character as JSON allows (an emoji is "\ud83d\ude00", 12
        # bytes): the largest valid message must still fit, with room for the other fields.
        needed = 12 * self.max_content_chars + MESSAGE_OVERHEAD_BYTES
        if self.max_body_bytes < needed:
            raise ValueError(
                f"max_body_bytes ({self.max_body_bytes}) must hold a message of "
                f"max_content_chars ({self.max_content_chars}) characters escaped as JSON "
                f"(12 bytes each): at least {needed}"
            )
        return self


class ActorSettings(BaseModel):
    """The actor runtime configuration daprd reads from GET /dapr/config (reentrancy: off,
    always: the actors' turn locks and the Chat -> Response -> Memory DAG rely on it)."""

    idle_timeout_s: float = Field(
        3600.0, gt=0, description="an actor idle this long is deactivated (its cache dropped)"
    )
    scan_interval_s: float = Field(30.0, gt=0, description="how often daprd looks for idle actors")
    drain_ongoing_call_timeout_s: float = Field(
        2.0,
        gt=0,
        description="how long daprd lets an actor's ongoing call finish before the actor moves; "
        "while it drains, the surviving replicas' actor calls wait (a lost replica stalls "
        "users for ~drain + 1.5 s); keep it under placement's dissemination timeout (8 s)",
    )
    drain_rebalanced_actors: bool = Field(
        True, description="wait for ongoing calls before moving an actor to another replica"
    )


class StreamSettings(BaseModel):
    """POST /chat/{id}/stream: keep-alive and relay across replicas."""

    ping_s: float = Field(
        15.0,
        gt=0,
        description="a `: ping` comment this often while no token is sent (keeps proxies "
        "from closing a quiet stream)",
    )

    relay_url: str | None = Field(
        None,
        description="Redis URL (redis://host:port) relaying a stream's tokens between "
        "replicas; unset: only when the actor runs in the process holding the stream",
    )
    relay_outbox_max: int = Field(
        10_000,
        ge=1,
        description="stream events a process holds for the relay while Redis is slow or down; "
        "past it new ones are dropped (agent_actors_stream_relay_dropped_total): the client "
        "still gets the committed reply",
    )


# An API key's label: it names the key in records and logs, so it is plain text, short, and
# never one of the names records use for no key ("anonymous") or for the approval deadline.
KEY_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
RESERVED_LABELS = frozenset({"anonymous", "deadline"})


class ApiKey(BaseModel):
    """What one API key may do. Configured as the users alone (``"user1,user2"``, the first
    form) or as an object: ``{"users": "user1,user2", "label": "alice", "approver": true}``."""

    users: list[str] = Field(description='the user ids the key opens ("*": any user, an admin)')
    label: str | None = Field(
        None,
        description="its name in records (a call's approved_by) and logs; unset: key: and "
        "the first 12 hex digits of the key's SHA-256 (never the key)",
    )
    approver: bool = Field(
        False,
        description="it may approve tool calls; once any key is an approver, only approver "
        "keys may",
    )

    model_config = ConfigDict(extra="forbid")

    @field_validator("users", mode="before")
    @classmethod
    def _comma_separated(cls, users: Any) -> Any:
        return [u.strip() for u in users.split(",")] if isinstance(users, str) else users

    @field_validator("label")
    @classmethod
    def _plain_label(cls, label: str | None) -> str | None:
        if label is not None and (not KEY_LABEL.fullmatch(label) or label in RESERVED_LABELS):
            raise ValueError(
                "a key's label is 1 to 64 letters, digits or ._@- (starting with a letter or "
                'a digit), and not "anonymous" or "deadline"'
            )
        return label


class AuthSettings(BaseModel):
    """Tokens: the sidecar's app token, and optional API keys for the public API."""

    app_api_token: SecretStr | None = Field(
        None,
        description="token daprd sends; /actors/* and /subscribe* require it (APP_API_TOKEN); "
        "required when API keys are set",
    )
    api_keys: dict[str, ApiKey] = Field(
        default_factory=dict,
        repr=False,
        description='JSON {"<key>": "user1,user2"} ("*": any user, an admin key), or per key '
        '{"users": "user1,user2", "label": "alice", "approver": true} (label: its name in '
        "records; approver: it may approve tool calls, and once one key is, only approvers "
        "may); set: every /{id} route needs `Authorization: Bearer <key>` bound to that id, "
        "/events/stats an admin key",
    )
    rate_per_s: float | None = Field(
        None,
        gt=0,
        description="requests per second per API key, a token bucket in each app process "
        "(unset: no bound); past it a 429 with Retry-After",
    )
    rate_burst: int = Field(20, ge=1, description="the token bucket's size (rate_per_s set)")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _users_alone(cls, keys: Any) -> Any:
        # The first form, "<key>": "user1,user2", is the object form with only users.
        if isinstance(keys, dict):
            return {k: {"users": v} if isinstance(v, str) else v for k, v in keys.items()}
        return keys

    @field_validator("api_keys")
    @classmethod
    def _labels_name_one_key(cls, keys: dict[str, ApiKey]) -> dict[str, ApiKey]:
        # A record's approved_by must say which key approved: two keys, one label, cannot.
        labels = [k.label for k in keys.values() if k.label is not None]
        if len(labels) != len(set(labels)):
            raise ValueError("two API keys have the same label")
        return keys

    @property
    def approvers_set(self) -> bool:
        """Whether any key is an approver (then only approver keys approve)."""
        return any(k.approver for k in self.api_keys.values())

    @field_validator("app_api_token")
    @classmethod
    def _empty_token_is_unset(cls, token: SecretStr | None) -> SecretStr | None:
        # An empty token would admit every caller that sends none: treat it as no token.
        return token if token is not None and token.get_secret_value() else None


# The smallest stored call record worth keeping: its numbers, tool names and a little text.
MIN_RECORD_BYTES = 2048


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
    retry_backoff_s: float = Field(
        0.5,
        ge=0,
        description="the bound of the first retry's random delay (full jitter; doubles each time)",
    )
    retry_after_max_s: float = Field(
        10.0,
        ge=0,
        description="the longest Retry-After of the model server waited out before a retry; "
        "a longer one fails the request without retrying",
    )
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
    calls_page_size: int = Field(
        5,
        ge=1,
        description="model-call records per stored page (a turn rewrites its page: small "
        "pages keep that write small)",
    )
    search_max_pages: int = Field(
        4, ge=1, description="history pages one search_history tool call reads, newest first"
    )
    record_content: bool = Field(
        True,
        description="call records keep the text of each request's messages, the answer and "
        "the tool calls' arguments and results (false: only their shape, for privacy)",
    )
    record_chars: int = Field(
        2000,
        ge=1,
        description="each recorded message, answer, tool argument or result is cut to this",
    )
    record_messages: int = Field(
        24,
        ge=2,
        description="messages recorded per request: the first (the system prompt) and the newest",
    )
    calls_page_bytes: int = Field(
        32768,
        ge=16384,
        le=262144,
        description="a stored page of call records stays under this (JSON bytes): each record "
        "is cut to calls_page_bytes / calls_page_size, oldest messages first",
    )

    @model_validator(mode="after")
    def _records_fit_their_page(self) -> LlmSettings:
        if self.calls_page_bytes // self.calls_page_size < MIN_RECORD_BYTES:
            raise ValueError(
                f"llm.calls_page_bytes / llm.calls_page_size leaves a call record under "
                f"{MIN_RECORD_BYTES} bytes: raise the one or lower the other"
            )
        return self


class AgentSettings(BaseModel):
    """Agent profiles (``llm/profiles.py``): how each conversation is answered."""

    file: Path | None = Field(
        None,
        description="the YAML file of agent profiles, read and checked once at start-up "
        "(unset: the packaged `src/agent_actors/agents.yaml`, whose default profile is the "
        "`llm` settings as they are)",
    )


class TracingSettings(BaseModel):
    """OpenTelemetry traces over OTLP/HTTP (``tracing.py``); off by default."""

    enabled: bool = Field(False, description="trace every turn (W3C trace context, OTLP export)")
    otlp_endpoint: str = Field(
        "http://127.0.0.1:4318",
        description="OTLP/HTTP base URL spans go to (`/v1/traces` is appended); the local "
        "stack points it at its Jaeger",
    )
    sampling_ratio: float = Field(
        1.0,
        ge=0,
        le=1,
        description="share of new traces kept; a call with a `traceparent` follows its caller",
    )
    export_delay_s: float = Field(
        2.0, gt=0, description="longest time a finished span waits before it is exported"
    )
    export_timeout_s: float = Field(10.0, gt=0, description="timeout of one OTLP export")
    ui_url: str | None = Field(
        None,
        description="the trace UI's base URL (Jaeger: http://127.0.0.1:16686); set, the "
        "inspector page links each turn to `<ui_url>/trace/<trace id>`",
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AGENT_ACTORS_",
        env_nested_delimiter="__",
        extra="ignore",
    )
    # Names users of Dapr and OpenAI already know: (section, field) each one sets.
    well_known_env: ClassVar[dict[str, tuple[str, str]]] = {
        "APP_API_TOKEN": ("auth", "app_api_token"),
        "OPENAI_BASE_URL": ("llm", "base_url"),
        "OPENAI_API_KEY": ("llm", "api_key"),
        "OPENAI_MODEL": ("llm", "model"),
    }

    log_level: str = Field("INFO", description="the app's log level")
    log_json: bool = Field(False, description="JSON log lines (for containers)")
    # Registers the no-op BenchActor for `make bench` (W0); off: exactly the three actor types.
    bench_actor: bool = Field(False, description="register the no-op BenchActor (make bench)")
    dapr: DaprSettings = DaprSettings()
    limits: LimitSettings = LimitSettings()
    actors: ActorSettings = ActorSettings()
    streams: StreamSettings = StreamSettings()
    auth: AuthSettings = AuthSettings()
    llm: LlmSettings = LlmSettings()
    agents: AgentSettings = AgentSettings()
    tracing: TracingSettings = TracingSettings()

    @model_validator(mode="after")
    def _whole_writes_fit_the_sidecar(self) -> Settings:
        """A history page and the memory window cannot be split: each is written (and the
        window read) whole through daprd. Refuse limits under which one could pass daprd's
        max body size when every character of its entries takes 12 bytes."""
        limits = self.limits
        entry = BYTES_PER_CHAR * max(limits.max_content_chars, limits.max_reply_chars)
        entry += ENTRY_OVERHEAD
        budget = self.dapr.max_body_bytes - PAYLOAD_HEADROOM
        for name in ("history_page_size", "memory_window"):
            count = getattr(limits, name)
            if count * entry > budget:
                raise ValueError(
                    f"limits.{name} ({count}) entries of up to {entry} bytes each (12 per "
                    f"character of max_content_chars/max_reply_chars) could pass "
                    f"dapr.max_body_bytes ({self.dapr.max_body_bytes}): lower the one or "
                    "raise the other (with daprd's --max-body-size)"
                )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Above the prefixed names, so users of Dapr and OpenAI configure the service the way
        # they configure everything else; below what the code passes in.
        well_known = WellKnownNames(settings_cls)
        return init_settings, well_known, env_settings, dotenv_settings, file_secret_settings


class WellKnownNames(PydanticBaseSettingsSource):
    """``Settings.well_known_env`` read from the environment into their sections (merged with
    the prefixed names of the same section). An empty value means unset: an empty
    ``OPENAI_API_KEY`` (a Secret without the key, say) is not "use OpenAI with an empty key"."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the names itself

    def __call__(self) -> dict[str, Any]:
        names: dict[str, tuple[str, str]] = getattr(self.settings_cls, "well_known_env", {})
        values: dict[str, dict[str, str]] = {}
        for env, (section, field) in names.items():
            if value := os.environ.get(env):
                values.setdefault(section, {})[field] = value
        return values


@lru_cache
def get_settings() -> Settings:
    return Settings()
