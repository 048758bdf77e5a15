"""Streamed replies: keep-alive, and the relay of tokens between replicas."""

from __future__ import annotations

from pydantic import BaseModel, Field


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
