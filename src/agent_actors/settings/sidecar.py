"""daprd as the app sees it: where it listens, what things are called on the wire, how
large a body it takes, and the actor runtime configuration it reads from the app."""

from __future__ import annotations

from pydantic import BaseModel, Field

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
# A key from a header (an Idempotency-Key): its text is latin-1, \u00XX at most, 6 bytes.
BYTES_PER_HEADER_CHAR = 6
# An idempotency record beside its key (the turn's seq, the message's sha256, field names).
IDEMPOTENCY_RECORD_OVERHEAD = 128
# ChatAgent's meta in a commit: bounded lists (16 request ids, 16 decided approvals), generously.
META_ALLOWANCE = 16 * 1024


class DaprSettings(BaseModel):
    """Where the app finds its sidecar and what it calls things on the wire."""

    app_id: str = Field("agent-actors", description="Dapr app id")
    host: str = Field("127.0.0.1", description="daprd's address as the app sees it")
    http_port: int = Field(3500, description="daprd HTTP port")
    grpc_port: int = Field(50001, description="daprd gRPC port")
    pubsub_name: str = Field("daca-pubsub", description="pub/sub component name")
    topic: str = Field("user-chat", description="topic of ConversationUpdated")
    dead_letter_topic: str = Field("user-chat-deadletter", description="dead-letter topic")
    task_topic: str = Field("agent-tasks", description="topic of delegated tasks (pubsub_name)")
    reply_pubsub_name: str = Field(
        "daca-broadcast",
        description="pub/sub component of delegation replies: every sidecar its own consumer "
        "group, so the replica waiting for a reply hears it",
    )
    reply_topic: str = Field("agent-task-replies", description="topic of delegation replies")
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
