"""The tools the model may call, executed inside ResponseAgent.

A tool is a name, a description, its arguments and an async function. The arguments are a
pydantic model (a built-in tool: the model is also the JSON schema the model sees) or a raw JSON
schema passed to the model as it is (an MCP server's tool, ``mcp_tools.py``: the server checks
the rest). ``ToolRegistry.parse`` turns one requested call into validated arguments or an
``InvalidToolCall`` whose message tells the model what to fix. A tool that fails raises
``ToolFailed``: its message goes back to the model as the call's result.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent_actors.llm.responder import Delegate, Delegated, HistorySearch
from agent_actors.models import ChatMessage, DelegationLink

SNIPPET_CHARS = 300


class InvalidToolCall(Exception):
    """The model asked for a tool that does not exist, or gave arguments that do not fit."""


class ToolFailed(Exception):
    """A tool ran and failed (its server is down, it timed out, it reported an error); the
    message is for the model."""


@dataclass(frozen=True)
class ToolContext:
    user_id: str
    recent: list[ChatMessage] = field(default_factory=list)
    search_history: HistorySearch | None = None
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    delegate: Delegate | None = None
    # The model's id of the call being run (set per call), and the tasks the turn's delegate
    # calls handed on by that id: their records name them.
    call_id: str | None = None
    # Where the call stands in the turn ("<step>.<index>"): the same in a run started again
    # after a crash, whose earlier calls are answered from their saved results.
    position: str | None = None
    turn_key: str | None = None

    @property
    def idempotency_key(self) -> str | None:
        """The call's key, the same in every run of its turn (a run started again after a
        crash): a tool that honours it acts once however often it is called."""
        if self.turn_key is None or self.position is None:
            return None
        return hashlib.sha256(f"{self.turn_key}|{self.position}".encode()).hexdigest()[:32]

    delegations: dict[str, DelegationLink] = field(default_factory=dict)

    def note_delegation(self, delegated: Delegated) -> None:
        if self.call_id is not None:
            self.delegations[self.call_id] = delegated.link


class NoArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SearchArgs(BaseModel):
    model_config = ConfigDict(extra="forbid")
    query: str = Field(min_length=1, max_length=200, description="words to look for")
    limit: int = Field(5, ge=1, le=10, description="most matches to return")


JsonSchema = dict[str, Any]


@dataclass(frozen=True)
class Tool:
    """``name`` is what the model calls (``^[a-zA-Z0-9_-]{1,64}$``); ``grant`` is how a profile
    names it (``files.delete`` for the wire name ``files__delete``; empty: ``name``)."""

    name: str
    description: str
    args: type[BaseModel] | JsonSchema
    run: Callable[[Any, ToolContext], Awaitable[str]]
    grant: str = ""
    approval: bool = False
    # False: running it twice may do twice what it does (send, pay, delete): a call that was
    # running when a long turn's run was lost waits for a person instead of running again.
    idempotent: bool = True

    @property
    def granted_as(self) -> str:
        return self.grant or self.name

    @cached_property
    def parameters(self) -> JsonSchema:
        # Cached: pydantic's schema generation costs about a millisecond per tool, and every
        # model request sends the list.
        return self.args if isinstance(self.args, dict) else self.args.model_json_schema()

    def schema(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def check(self, raw: Any) -> Any:
        """The call's arguments, validated (raises ``InvalidToolCall``)."""
        if isinstance(self.args, dict):
            return check_object(self.name, self.args, raw)
        try:
            return self.args.model_validate(raw)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors()
            )
            raise InvalidToolCall(f"the arguments of {self.name!r} do not fit: {problems}") from exc


def check_object(name: str, schema: JsonSchema, raw: Any) -> dict[str, Any]:
    """What is cheap to check against a raw schema: a JSON object, with its required keys and,
    when the schema closes it, no others. The tool's server validates the rest."""
    if not isinstance(raw, dict):
        raise InvalidToolCall(f"the arguments of {name!r} must be a JSON object")
    missing = [k for k in schema.get("required") or [] if k not in raw]
    if missing:
        raise InvalidToolCall(f"the arguments of {name!r} miss required keys: {missing}")
    known = schema.get("properties") or {}
    if schema.get("additionalProperties") is False and (extra := sorted(set(raw) - set(known))):
        raise InvalidToolCall(f"the arguments of {name!r} have unknown keys: {extra}")
    return raw


async def current_time(_args: NoArgs, ctx: ToolContext) -> str:
    return json.dumps({"utc": ctx.clock().isoformat()})


def matches(entries: list[ChatMessage], query: str) -> list[ChatMessage]:
    """Entries containing every word of ``query`` (case-insensitive), in the given order."""
    words = query.lower().split()
    return [e for e in entries if all(w in e.content.lower() for w in words)]


async def search_history(args: SearchArgs, ctx: ToolContext) -> str:
    if ctx.search_history is not None:
        found = await ctx.search_history(args.query, args.limit)
    else:
        found = matches(list(reversed(ctx.recent)), args.query)[: args.limit]
    return json.dumps(
        {"matches": [{"role": m.role, "content": m.content[:SNIPPET_CHARS]} for m in found]}
    )


class ToolRegistry:
    def __init__(self, tools: list[Tool]) -> None:
        self._tools = {t.name: t for t in tools}
        self._schemas = [t.schema() for t in tools]

    @property
    def names(self) -> list[str]:
        return sorted(self._tools)

    @property
    def tools(self) -> list[Tool]:
        return list(self._tools.values())

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def schemas(self) -> list[dict[str, Any]]:
        return self._schemas

    def with_tools(self, tools: list[Tool]) -> ToolRegistry:
        """These tools and ``tools`` (a name already taken keeps its first tool)."""
        return ToolRegistry(
            [*self._tools.values(), *(t for t in tools if t.name not in self._tools)]
        )

    def parse(self, name: str, arguments: str) -> tuple[Tool, Any]:
        tool = self._tools.get(name)
        if tool is None:
            raise InvalidToolCall(f"there is no tool named {name!r}; the tools are {self.names}")
        try:
            raw = json.loads(arguments or "{}")
        except ValueError as exc:
            raise InvalidToolCall(f"the arguments of {name!r} are not JSON: {exc}") from exc
        return tool, tool.check(raw)

    async def run(self, tool: Tool, args: Any, ctx: ToolContext) -> str:
        return await tool.run(args, ctx)


DEFAULT_TOOLS = ToolRegistry(
    [
        Tool("current_time", "The current date and time (UTC, ISO 8601).", NoArgs, current_time),
        Tool(
            "search_history",
            "Search this user's own earlier messages and replies; newest matches first.",
            SearchArgs,
            search_history,
        ),
    ]
)
