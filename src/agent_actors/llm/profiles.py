"""Agent profiles: named ways to answer, read from one YAML file (``agents.file``).

A conversation picks its profile on its first turn and keeps it. A profile says how the model
is asked (system prompt, model, temperature, max tokens), which tools it may call (built-in
ones by name, an MCP server's as ``<server>.<tool>`` or ``<server>.*``, each optionally
needing a person's approval), and how much context it gets (memory window, prompt history).
Unset fields fall back to the ``llm``/``limits`` settings.

The file::

    default: assistant
    mcp_servers:
      files: {command: ["python", "-m", "my_server"], timeout_s: 10}
      search: {url: "http://127.0.0.1:9000/mcp"}
    agents:
      assistant:
        description: General help
        tools: [current_time, search_history]
      support:
        system_prompt: You answer support questions.
        model: gpt-4o-mini
        tools: [search_history, {name: files.delete, approval: required}, files.*,
                {name: files.rename, idempotent: false}]
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml  # type: ignore[import-untyped]  # no stubs in the lock; two calls used
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from agent_actors.errors import Misconfigured
from agent_actors.models import AGENT_NAME
from agent_actors.settings import LlmSettings

# An MCP server's name prefixes its tools' names (<server>__<tool>).
MCP_SERVER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")


class McpServerSpec(BaseModel):
    """One MCP server: a stdio command the app starts, or a streamable HTTP URL."""

    model_config = ConfigDict(extra="forbid")
    command: list[str] | None = Field(None, description="argv of a stdio server")
    env: dict[str, str] = Field(default_factory=dict, description="extra environment (stdio)")
    url: str | None = Field(None, description="a streamable HTTP endpoint")
    timeout_s: float = Field(10.0, gt=0, description="one tool call's timeout")
    max_result_chars: int = Field(4000, ge=1, description="a tool result is cut to this size")

    @model_validator(mode="after")
    def _one_transport(self) -> McpServerSpec:
        if (self.command is None) == (self.url is None):
            raise ValueError("an MCP server has either 'command' or 'url'")
        return self


class ToolGrant(BaseModel):
    """A tool a profile may use: a built-in name, ``<server>.<tool>`` or ``<server>.*``."""

    model_config = ConfigDict(extra="forbid")
    name: str
    approval: Literal["none", "required"] = "none"
    # false: a call of it that was running when a long turn's run was lost is not run again
    # unless a person approves (it may have taken effect); true: it is run again, once.
    idempotent: bool = True

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"name": value} if isinstance(value, str) else value


class AgentProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field("", description="set from its key in the file")
    description: str = ""
    system_prompt: str | None = Field(None, description="unset: llm.system_prompt")
    model: str | None = Field(None, description="unset: llm.model")
    temperature: float | None = Field(None, ge=0)
    max_tokens: int | None = Field(None, ge=1, description="unset: llm.max_output_tokens")
    tools: list[ToolGrant] = Field(default_factory=list)
    memory_window: int | None = Field(None, ge=0, description="unset: limits.memory_window")
    prompt_history: int | None = Field(None, ge=0, description="unset: limits.prompt_history")
    # Agents this one may hand a task to, each offered to its model as a tool named after it.
    delegates: list[str] = Field(default_factory=list)
    delegate_timeout_s: float = Field(
        30.0, gt=0, le=3600, description="how long one delegation may take before it fails"
    )


# A tool's name as models take it (OpenAI's function names): a delegate is offered under its own.
TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


class ProfileBook(BaseModel):
    """The whole file, checked once at startup (an unknown server or a bad name fails it)."""

    model_config = ConfigDict(extra="forbid")
    default: str
    mcp_servers: dict[str, McpServerSpec] = Field(default_factory=dict)
    agents: dict[str, AgentProfile]
    # Hops a task may travel from the agent the user talks to (coordinator -> specialist is
    # one); past it, and back to any agent already on the way, no delegate is offered.
    max_delegation_depth: int = Field(2, ge=1, le=8)

    def profile(self, name: str | None) -> AgentProfile | None:
        """The profile called ``name`` (None or "": the default); None when there is none."""
        return self.agents.get(name or self.default)

    def resolve(self, name: str | None) -> AgentProfile:
        """The profile a conversation answers with: a name the file no longer has (it was
        removed after the conversation picked it) falls back to the default, so the
        conversation goes on rather than failing every turn."""
        return self.profile(name) or self.agents[self.default]


# A bound on a profile's prompt history: each entry may be a whole reply (16,000 characters
# by default, up to 12 bytes each in an actor payload). The newest that fit travel in the
# turn's actor call and ResponseAgent reads the rest from the state store (ReplyJob), so no
# call passes daprd's max body size; the bound keeps the prompt and those reads in check.
PROMPT_HISTORY_MAX = 100
PACKAGED_FILE = Path(__file__).resolve().parent.parent / "agents.yaml"


def read_book(path: Path) -> ProfileBook:
    """Parse and check the file on its own: names, the default, each MCP server."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise Misconfigured(f"the agents file {path} cannot be read: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise Misconfigured(f"the agents file {path} is not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise Misconfigured(f"the agents file {path} must be a mapping with 'agents'")
    try:
        book = ProfileBook.model_validate(raw)
    except ValidationError as exc:
        raise Misconfigured(f"the agents file {path}: {problems(exc)}") from exc
    for name, profile in book.agents.items():
        if not AGENT_NAME.fullmatch(name):
            raise Misconfigured(
                f"the agents file {path}: agent name {name!r} must be 1 to 64 letters, digits, "
                "'_', '.' or '-', starting with a letter or digit"
            )
        profile.name = name
    for name in book.mcp_servers:
        if not MCP_SERVER_NAME.fullmatch(name):
            raise Misconfigured(
                f"the agents file {path}: MCP server name {name!r} must be 1 to 32 letters, "
                "digits, '_' or '-' (it prefixes its tools' names)"
            )
    if book.default not in book.agents:
        raise Misconfigured(
            f"the agents file {path}: the default agent {book.default!r} is not among its "
            f"agents ({', '.join(sorted(book.agents)) or 'none'})"
        )
    return book


def check_book(
    book: ProfileBook, path: Path, builtin_tools: Iterable[str], memory_window: int
) -> ProfileBook:
    """Check what the file says against the service: each tool grant names a built-in tool
    or a declared MCP server, and each bound fits what the actors keep."""
    builtin = set(builtin_tools)
    for profile in book.agents.values():
        where = f"the agents file {path}: agent {profile.name!r}"
        seen: set[str] = set()
        for grant in profile.tools:
            if grant.name in seen:
                raise Misconfigured(f"{where} grants the tool {grant.name!r} twice")
            seen.add(grant.name)
            server, dot, tool = grant.name.partition(".")
            if grant.name in builtin or (dot and tool and server in book.mcp_servers):
                continue
            raise Misconfigured(
                f"{where} grants {grant.name!r}, which is neither a built-in tool "
                f"({', '.join(sorted(builtin))}) nor '<server>.<tool>' or '<server>.*' of a "
                f"declared MCP server ({', '.join(sorted(book.mcp_servers)) or 'none declared'})"
            )
        check_delegates(book, profile, builtin, where)
        if profile.memory_window is not None and profile.memory_window > memory_window:
            raise Misconfigured(
                f"{where} asks for a memory window of {profile.memory_window} entries; memory "
                f"keeps {memory_window} (AGENT_ACTORS_LIMITS__MEMORY_WINDOW)"
            )
        if profile.prompt_history is not None and profile.prompt_history > PROMPT_HISTORY_MAX:
            raise Misconfigured(
                f"{where} asks for a prompt history of {profile.prompt_history} entries; the "
                f"most is {PROMPT_HISTORY_MAX}"
            )
    return book


def check_delegates(
    book: ProfileBook, profile: AgentProfile, builtin: set[str], where: str
) -> None:
    """Each delegate is another agent of the file, named as a tool can be, once."""
    for name in profile.delegates:
        if name not in book.agents:
            raise Misconfigured(
                f"{where} delegates to {name!r}, which is not an agent of the file "
                f"({', '.join(sorted(book.agents))})"
            )
        if name == profile.name:
            raise Misconfigured(f"{where} delegates to itself")
        if not TOOL_NAME.fullmatch(name) or name in builtin:
            raise Misconfigured(
                f"{where} delegates to {name!r}: a delegate is offered as a tool of its name, "
                "which must be letters, digits, '_' or '-' and not a built-in tool's"
            )
    if len(set(profile.delegates)) != len(profile.delegates):
        raise Misconfigured(f"{where} names a delegate twice")


def offered_delegates(
    book: ProfileBook, profile: AgentProfile, chain: list[str]
) -> list[AgentProfile]:
    """The delegates ``profile`` may hand a task to in a turn that ``chain`` led to (the
    agents that handed the task on before it, the one the user talked to first; empty: the
    user talks to ``profile``): none once the chain is as long as the book allows, and none
    already on it (no loop)."""
    if len(chain) >= book.max_delegation_depth:
        return []
    seen = {*chain, profile.name}
    return [book.agents[n] for n in profile.delegates if n not in seen and n in book.agents]


def load_book(path: Path | None, builtin_tools: Iterable[str], memory_window: int) -> ProfileBook:
    """The agents file (``agents.file``, else the packaged one), read and checked."""
    path = path or PACKAGED_FILE
    return check_book(read_book(path), path, builtin_tools, memory_window)


@lru_cache
def packaged_book() -> ProfileBook:
    """The packaged file, unchecked against settings: what actors get when nobody loaded one
    (unit tests that build their own deps)."""
    return read_book(PACKAGED_FILE)


def problems(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or 'the file'}: {e['msg']}" for e in exc.errors()
    )


@dataclass(frozen=True)
class ModelAsk:
    """How one request goes to the model under a profile: the profile's values, else the
    ``llm`` settings'."""

    model: str
    system_prompt: str
    # Request options: max_tokens and temperature, when either says one.
    options: dict[str, Any]


def model_ask(profile: AgentProfile | None, llm: LlmSettings) -> ModelAsk:
    p = profile or AgentProfile()
    max_tokens = p.max_tokens if p.max_tokens is not None else llm.max_output_tokens
    temperature = p.temperature if p.temperature is not None else llm.temperature
    options: dict[str, Any] = {}
    if max_tokens is not None:
        options["max_tokens"] = max_tokens
    if temperature is not None:
        options["temperature"] = temperature
    return ModelAsk(p.model or llm.model, p.system_prompt or llm.system_prompt, options)
