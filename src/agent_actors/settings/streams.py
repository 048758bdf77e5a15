"""Streamed replies: keep-alive, and the relay of tokens between replicas."""

from __future__ import annotations

from pydantic import BaseModel, Field


class StreamSettings(BaseModel):
    """Streamed replies: keep-alive, the relay across replicas, and each turn's event log."""

    ping_s: float = Field(
        15.0,
        gt=0,
        description="a `: ping` comment this often while no token is sent (keeps proxies "
        "from closing a quiet stream)",
    )

    relay_url: str | None = Field(
        None,
        description="Redis URL (redis://host:port) relaying a stream's tokens between "
        "replicas and keeping each streamed or long turn's events (turn_log); unset: tokens "
        "stream only when the actor runs in the process holding the stream, and a client "
        "that reconnects gets the committed reply as one token",
    )
    relay_outbox_max: int = Field(
        10_000,
        ge=1,
        description="stream events a process holds for the relay while Redis is slow or down; "
        "past it new ones are dropped (agent_actors_stream_relay_dropped_total): the client "
        "still gets the committed reply",
    )
    turn_log: bool = Field(
        True,
        description="with relay_url: keep the events of each streamed or long turn in a Redis "
        "stream, so a client reconnects with Last-Event-ID to any replica, or attaches to a "
        "turn (GET /chat/{id}/turns/{seq}/stream); a plain POST /chat/{id} logs nothing",
    )
    turn_log_max_events: int = Field(
        20_000,
        ge=100,
        description="events kept per turn (about: Redis trims whole blocks); a reader that "
        "finds the start trimmed gets the committed reply as one token at the end",
    )
    turn_log_ttl_s: float = Field(
        3600.0, gt=0, description="how long a turn's events stay after its last one"
    )
    turn_log_max_connections: int = Field(
        1000,
        ge=1,
        description="Redis connections the turn log may open per process: each stream's "
        "tail and each attached reader holds one while it reads (up to a second); past it a "
        "read waits for a free one (turn_log_wait_s). 1,000 lets 1,000 users stream at once "
        "without waiting (bench W3). Keep replicas x this, plus daprd's, under Redis's "
        "maxclients (k8s/: 500 per pod, 20 pods, maxclients 20,000)",
    )
    turn_log_wait_s: float = Field(
        10.0,
        gt=0,
        description="longest a read of the turn log waits for a connection when all "
        "turn_log_max_connections are busy; past it the stream ends with the committed reply "
        "as one token",
    )
    watch_max_s: float = Field(
        900.0,
        gt=0,
        description="longest a stream attached to a turn (or resumed) waits for the turn to "
        "end; past it the stream ends with an `error` (stream_timeout)",
    )
