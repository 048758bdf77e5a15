"""Tools from MCP servers, and the tool list of each profile (``ToolCatalog.tools_for``).

A profile names MCP servers' tools as ``<server>.<tool>`` or ``<server>.*``. The model sees
them as ``<server>__<tool>`` (OpenAI function names allow no dot), with the server's input
schema as it is. Each server is connected on first use, once per process, by a background
task that owns the connection (the ``mcp`` client's context must be left by the task that
entered it); its tool list is read once per connection. A connection that fails is dropped
and the next turn reconnects; a server that cannot be reached is retried after a backoff
(1 s, doubling to 30 s) so a broken one does not cost every turn a process start or a timeout.

Nothing here fails a turn: a server that cannot be listed leaves its tools out of the turn
(a warning), and a call that fails (server down, timeout, error result) raises ``ToolFailed``,
which goes back to the model as the call's result. Results are cut to the server's
``max_result_chars``; ``timeout_s`` bounds connecting and listing, and each call (a reconnect
included).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from mcp import Client, StdioServerParameters
from mcp import types as mcp_types
from mcp.shared.exceptions import MCPError

from agent_actors.llm.profiles import AgentProfile, McpServerSpec, ToolGrant
from agent_actors.llm.tools import DEFAULT_TOOLS, Tool, ToolContext, ToolFailed, ToolRegistry

log = logging.getLogger(__name__)

SEPARATOR = "__"
WIRE_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")  # (fullmatch)
RETRY_FIRST_S = 1.0
RETRY_MAX_S = 30.0
MAX_LIST_PAGES = 100
CLOSE_WAIT_S = 5.0


class ServerUnavailable(ToolFailed):
    """The server cannot be reached; ``waiting``: it failed lately and is not tried again yet."""

    def __init__(self, message: str, waiting: bool = False) -> None:
        super().__init__(message)
        self.waiting = waiting


# Where a tool call's idempotency key travels: the MCP request's ``_meta`` (the protocol's
# place for what is not an argument). The same key in a call run again after a crash (a long
# turn's run started anew): a server that keeps its effects by key acts once.
IDEMPOTENCY_META = "agent-actors/idempotency-key"


def wire_name(server: str, tool: str) -> str:
    """``<server>__<tool>``, made to fit ``^[a-zA-Z0-9_-]{1,64}$``: other characters become
    ``_``, and a longer name is cut with a hash of the whole so two cut names stay apart."""
    name = re.sub(r"[^a-zA-Z0-9_-]", "_", f"{server}{SEPARATOR}{tool}")
    if len(name) > 64:
        digest = hashlib.sha256(f"{server}.{tool}".encode()).hexdigest()[:8]
        name = f"{name[:55]}_{digest}"
    return name


def bounded(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return f"{text[:limit]}\n[cut: {len(text)} characters, the first {limit} shown]"


def result_text(result: mcp_types.CallToolResult) -> str:
    """A tool result as the text of a chat tool message: text blocks as they are, a text
    resource by its text, other blocks (images, audio, links) named but left out."""
    parts: list[str] = []
    for block in result.content:
        if isinstance(block, mcp_types.TextContent):
            parts.append(block.text)
        elif isinstance(block, mcp_types.EmbeddedResource) and isinstance(
            block.resource, mcp_types.TextResourceContents
        ):
            parts.append(block.resource.text)
        elif isinstance(block, mcp_types.ResourceLink):
            parts.append(f"[resource {block.uri}]")
        else:
            parts.append(f"[{block.type} content left out]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False))
    return "\n".join(parts)


@dataclass
class _Session:
    """One connection: the task holding it open, its client and tool list once ready."""

    ready: asyncio.Future[tuple[Client, list[mcp_types.Tool]]]
    stop: asyncio.Event
    task: asyncio.Task[None] | None = None


def client_for(name: str, spec: McpServerSpec) -> Client:
    """The ``mcp`` client of one server: a command it starts and talks to over stdio, or a
    streamable HTTP endpoint."""
    server: StdioServerParameters | str
    if spec.command is not None:
        server = StdioServerParameters(command=spec.command[0], args=spec.command[1:], env=spec.env)
    else:
        server = str(spec.url)
    client_info = mcp_types.Implementation(name="agent-actors", version="1")
    # No response cache: the tool list is read once per connection here.
    return Client(server, client_info=client_info, cache=None)


# How a connection gets its client: ``client_for``, or an in-process server in unit tests.
ClientFactory = Callable[[str, McpServerSpec], Client]


class McpServerConnection:
    """One MCP server for the whole process: connected lazily, reconnected after a failure."""

    def __init__(self, name: str, spec: McpServerSpec, clients: ClientFactory = client_for) -> None:
        self.name = name
        self.spec = spec
        self._clients = clients
        self._session: _Session | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._last_error = ""

    async def _hold(self, session: _Session) -> None:
        try:
            async with self._clients(self.name, self.spec) as client:
                tools = await list_all(client)
                session.ready.set_result((client, tools))
                await session.stop.wait()
        except Exception as exc:
            if not session.ready.done():
                session.ready.set_exception(exc)
            else:
                log.warning("MCP server %s: connection ended: %s", self.name, describe(exc))
        finally:
            # Cancelled while connecting (dropped after a timeout, or the app stops): the
            # callers waiting get a failure, not a cancellation of their own turn.
            if not session.ready.done():
                session.ready.set_exception(ConnectionError("the connection attempt was dropped"))

    def _start(self) -> _Session:
        loop = asyncio.get_running_loop()
        session = _Session(ready=loop.create_future(), stop=asyncio.Event())
        # Read the outcome even when nobody waits any more (a caller's turn was cancelled).
        session.ready.add_done_callback(lambda f: f.cancelled() or f.exception())
        session.task = asyncio.create_task(self._hold(session), name=f"mcp-{self.name}")
        session.task.add_done_callback(lambda t: t.cancelled() or t.exception())
        self._session = session
        return session

    async def connect(self) -> tuple[Client, list[mcp_types.Tool]]:
        """The open connection and its tools; raises ``ToolFailed`` when the server cannot be
        reached (within ``timeout_s``) or is backing off after a failure."""
        session = self._session
        if session is None or (session.task is not None and session.task.done()):
            left = self._retry_at - time.monotonic()
            if left > 0:
                raise ServerUnavailable(
                    f"the MCP server {self.name!r} is unavailable ({self._last_error}); "
                    f"next attempt in {left:.1f} s",
                    waiting=True,
                )
            session = self._start()
        try:
            async with asyncio.timeout(self.spec.timeout_s):
                # Shielded: a caller that times out or is cancelled leaves the connection
                # attempt to finish for the next caller (the timeout below then drops it).
                opened = await asyncio.shield(session.ready)
        except TimeoutError:
            error = f"no answer within {self.spec.timeout_s:g} s"
            self._failed(session, error)
            raise ServerUnavailable(
                f"the MCP server {self.name!r} is unavailable: {error}"
            ) from None
        except Exception as exc:
            self._failed(session, describe(exc))
            raise ServerUnavailable(
                f"the MCP server {self.name!r} is unavailable: {describe(exc)}"
            ) from exc
        self._failures = 0
        return opened

    def _failed(self, session: _Session, error: str) -> None:
        if self._session is not session:
            return  # another caller has already counted this connection's failure
        self._drop(session)
        self._failures += 1
        self._last_error = error
        delay = min(RETRY_MAX_S, RETRY_FIRST_S * 2 ** (self._failures - 1))
        self._retry_at = time.monotonic() + delay
        log.warning(
            "MCP server %s is unavailable (%s); next attempt in %.0f s", self.name, error, delay
        )

    def _drop(self, session: _Session) -> None:
        session.stop.set()
        if not session.ready.done() and session.task is not None:
            session.task.cancel()
        if self._session is session:
            self._session = None

    async def call(self, tool: str, arguments: dict[str, Any], key: str | None = None) -> str:
        """The tool's result text, bounded; raises ``ToolFailed`` for any failure. ``key``,
        the call's idempotency key, goes in the request's ``_meta``
        (``IDEMPOTENCY_META``)."""
        started = time.monotonic()
        client, _ = await self.connect()
        session = self._session
        left = self.spec.timeout_s - (time.monotonic() - started)
        try:
            async with asyncio.timeout(max(left, 0.001)):
                meta = {IDEMPOTENCY_META: key} if key is not None else None
                result = await client.call_tool(tool, arguments, meta=meta)  # type: ignore[arg-type]
        except TimeoutError:
            raise ToolFailed(
                f"the tool {tool!r} of the MCP server {self.name!r} did not answer within "
                f"{self.spec.timeout_s:g} s"
            ) from None
        except Exception as exc:
            # An error the server answered says it is alive: keep the connection.
            lost = not isinstance(exc, MCPError) or exc.error.code == mcp_types.CONNECTION_CLOSED
            if lost and session is not None:
                log.warning("MCP server %s: call failed, reconnecting next time", self.name)
                self._drop(session)
            raise ToolFailed(
                f"the MCP server {self.name!r} failed to run {tool!r}: {describe(exc)}"
            ) from exc
        text = bounded(result_text(result), self.spec.max_result_chars)
        if result.is_error:
            raise ToolFailed(text or f"the tool {tool!r} reported an error")
        return text

    async def aclose(self) -> None:
        session = self._session
        if session is None or session.task is None:
            return
        self._drop(session)
        # wait(), not await: how the connection ended was logged already, and must not stop
        # the app's shutdown.
        _, pending = await asyncio.wait({session.task}, timeout=CLOSE_WAIT_S)
        if pending:
            session.task.cancel()
            log.warning("MCP server %s did not close within %.0f s", self.name, CLOSE_WAIT_S)


async def list_all(client: Client) -> list[mcp_types.Tool]:
    tools: list[mcp_types.Tool] = []
    cursor: str | None = None
    for _ in range(MAX_LIST_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools


def describe(exc: BaseException) -> str:
    """An exception in one line; an exception group by its first leaf (anyio's task groups
    wrap a transport's failure in one)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def mcp_tool(connection: McpServerConnection, tool: mcp_types.Tool, grant: ToolGrant) -> Tool:
    """``tool`` of ``connection`` as ``grant`` (its name, or the server's wildcard) allows it."""

    async def run(args: dict[str, Any], ctx: ToolContext) -> str:
        return await connection.call(tool.name, args, ctx.idempotency_key)

    return Tool(
        name=wire_name(connection.name, tool.name),
        description=tool.description or tool.title or f"{tool.name} (MCP: {connection.name})",
        args=tool.input_schema,
        run=run,
        grant=f"{connection.name}.{tool.name}",
        approval=grant.approval == "required",
        idempotent=grant.idempotent,
    )


class ToolCatalog:
    """Built-in tools and the MCP servers of the profile book, resolved per profile."""

    def __init__(
        self,
        servers: dict[str, McpServerSpec] | None = None,
        builtins: ToolRegistry = DEFAULT_TOOLS,
        clients: ClientFactory = client_for,
    ) -> None:
        self._builtins = builtins
        self._servers = {n: McpServerConnection(n, s, clients) for n, s in (servers or {}).items()}
        self._variants: dict[tuple[str, bool, bool], Tool] = {}

    async def tools_for(self, profile: AgentProfile | None) -> ToolRegistry:
        """The tools ``profile`` may use (None: the built-in tools). Its MCP servers are
        listed concurrently; one that cannot be is left out with a warning."""
        if profile is None:
            return self._builtins
        wanted: dict[str, list[tuple[str, ToolGrant]]] = {}
        tools: list[Tool] = []
        for grant in profile.tools:
            server, dot, name = grant.name.partition(".")
            if not dot:
                builtin = self._builtin(grant)
                if builtin is None:
                    log.warning("profile %s: no built-in tool %r", profile.name, grant.name)
                    continue
                tools.append(builtin)
            elif server not in self._servers:
                log.warning("profile %s: no MCP server %r", profile.name, server)
            else:
                wanted.setdefault(server, []).append((name, grant))
        listed = await asyncio.gather(*(self._tools_of(s, g) for s, g in wanted.items()))
        seen = {t.name for t in tools}
        for tool in (t for group in listed for t in group):
            if tool.name in seen:
                log.warning(
                    "profile %s: %s is taken, %s left out", profile.name, tool.name, tool.granted_as
                )
                continue
            seen.add(tool.name)
            tools.append(tool)
        return ToolRegistry(tools)

    def _builtin(self, grant: ToolGrant) -> Tool | None:
        tool = self._builtins.get(grant.name)
        key = (grant.name, grant.approval == "required", grant.idempotent)
        if tool is None or (tool.approval, tool.idempotent) == key[1:]:
            return tool
        # Kept: a new Tool would build its pydantic schema again on every turn.
        if key not in self._variants:
            self._variants[key] = replace(tool, approval=key[1], idempotent=key[2])
        return self._variants[key]

    async def _tools_of(self, server: str, grants: list[tuple[str, ToolGrant]]) -> list[Tool]:
        connection = self._servers[server]
        try:
            _, listed = await connection.connect()
        except ServerUnavailable as exc:
            # Said once per failed attempt (``_failed``) and quietly while waiting to retry.
            level = logging.INFO if exc.waiting else logging.WARNING
            log.log(level, "MCP server %s left out of this turn: %s", server, exc)
            return []
        by_name = {t.name: t for t in listed}
        out: dict[str, Tool] = {}
        for name, grant in grants:
            if name == "*":
                for tool in listed:
                    out.setdefault(tool.name, mcp_tool(connection, tool, grant))
            elif name in by_name:
                # A tool named alone wins over the wildcard (its approval and idempotent flag
                # are the ones meant).
                out[name] = mcp_tool(connection, by_name[name], grant)
            else:
                log.warning("MCP server %s has no tool %r", server, name)
        return list(out.values())

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self._servers.values()))
