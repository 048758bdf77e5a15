"""Bounds on every turn's cost and every input's size."""

from __future__ import annotations

from pydantic import BaseModel, Field, model_validator

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
        "started again on the replica that hosts the user's actors next (an approval's "
        "deadline has a reminder of its own, due at that second)",
    )
    long_turn_resumes: int = Field(
        3,
        ge=0,
        le=100,
        description="how often a long turn whose run was lost (its app crashed, its actors "
        "moved) starts again before it fails (turn_interrupted)",
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
