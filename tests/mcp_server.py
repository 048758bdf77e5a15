"""A real MCP server for the tests (the ``mcp`` package's MCPServer, FastMCP's successor).

    python tests/mcp_server.py                  # stdio (what a profile's `command` starts)
    python tests/mcp_server.py --http 9000      # streamable HTTP at http://127.0.0.1:9000/mcp

Unit tests connect to ``SERVER`` in-process; integration tests serve
``SERVER.streamable_http_app()`` in a thread (``tools/background_server.py``). A script
without the repository's imports: a profile's ``command`` runs it from any directory.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from typing import Literal

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from pydantic import BaseModel, Field

SERVER = MCPServer("test-tools", log_level="WARNING")
# Runs of tally and send by key, in this process: a test serving SERVER itself (streamable
# HTTP) reads them, and they outlive the app that called the tools.
RUNS: dict[str, int] = {}
# tally honours the service's idempotency key (the request's _meta): a call with a key it has
# seen answers what the first one did, without acting (counting) again. CALLS counts every
# call it got, repeats included.
CALLS: dict[str, int] = {}
ANSWERED: dict[str, asyncio.Future[str]] = {}
IDEMPOTENCY_META = "agent-actors/idempotency-key"


class Filters(BaseModel):
    tags: list[str] = Field(default_factory=list, description="every tag must match")
    since: str | None = Field(None, description="ISO date")


@SERVER.tool()
def echo(text: str) -> str:
    """Say the text back."""
    return f"echo: {text}"


@SERVER.tool()
def lookup(
    query: str, mode: Literal["fast", "deep"] = "fast", filters: Filters | None = None
) -> str:
    """A tool with a nested schema (an enum, a $defs reference), to check it reaches the model
    as the server wrote it."""
    return f"{mode} lookup of {query!r} with {filters.tags if filters else []}"


@SERVER.tool(name="text.big")
def big(chars: int) -> str:
    """A text of ``chars`` characters (a dotted name, as some servers use)."""
    return "y" * chars


@SERVER.tool()
async def slow(seconds: float) -> str:
    """Answers after ``seconds``."""
    await asyncio.sleep(seconds)
    return "finally"


async def counted(key: str, seconds: float) -> str:
    RUNS[key] = RUNS.get(key, 0) + 1
    run = RUNS[key]
    await asyncio.sleep(seconds)
    return f"run {run} of {key}"


@SERVER.tool()
async def tally(key: str, ctx: Context, seconds: float = 0.0) -> str:
    """Counts its runs by ``key`` (``RUNS``), answering after ``seconds``; a call whose
    idempotency key it has seen acts not again (``CALLS`` counts every call)."""
    CALLS[key] = CALLS.get(key, 0) + 1
    meta = ctx.request_context.meta or {}
    once = meta.get(IDEMPOTENCY_META) if isinstance(meta, dict) else None
    if not isinstance(once, str):
        return await counted(key, seconds)
    if once in ANSWERED:  # a repeat: the first call's answer, after the same wait
        await asyncio.sleep(seconds)
        return await ANSWERED[once]
    done = ANSWERED[once] = asyncio.get_running_loop().create_future()
    RUNS[key] = RUNS.get(key, 0) + 1
    answer = f"run {RUNS[key]} of {key}"
    # It acted (counted) already: its answer stands even if this call is cut (the caller's
    # app died), so a repeat never waits for ever.
    done.set_result(answer)
    await asyncio.sleep(seconds)
    return answer


@SERVER.tool()
async def send(key: str, seconds: float = 0.0) -> str:
    """As tally; a test's profile grants it as not idempotent (a message sent twice)."""
    return await counted(key, seconds)


@SERVER.tool()
def fail(reason: str) -> str:
    """Reports an error result (is_error) with ``reason``."""
    raise ToolError(f"refused: {reason}")


@SERVER.tool()
def pid() -> str:
    """This server's process id: a new one after a reconnect."""
    return str(os.getpid())


@SERVER.tool()
def crash() -> str:
    """Ends the server's process in the middle of the call."""
    sys.stdout.flush()
    os._exit(3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--http", type=int, metavar="PORT", help="serve streamable HTTP")
    args = parser.parse_args()
    if args.http:
        SERVER.run("streamable-http", port=args.http)
    else:
        SERVER.run()


if __name__ == "__main__":
    main()
