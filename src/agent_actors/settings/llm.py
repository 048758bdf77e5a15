"""What writes replies: the model server, its retries and budgets, the call records kept,
and the agent profiles."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, model_validator

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
