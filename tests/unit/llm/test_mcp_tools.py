"""Tools from MCP servers: names on the wire, schemas as they are, bounds, timeouts, failures.

The server is the tests' real MCPServer (tests/mcp_server.py), connected in-process; the
integration tests run it over stdio and streamable HTTP.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, cast

import pytest
from mcp import Client
from mcp import types as mcp_types
from mcp.shared.exceptions import MCPError

from agent_actors.llm.mcp_tools import (
    WIRE_NAME,
    McpServerConnection,
    ToolCatalog,
    bounded,
    result_text,
    wire_name,
)
from agent_actors.llm.profiles import AgentProfile, McpServerSpec, ToolGrant
from agent_actors.llm.responder import CallBuffer, ReplyContext, ReplyRequest
from agent_actors.llm.tools import InvalidToolCall, ToolContext, ToolFailed
from agent_actors.models import ChatMessage
from tests.mcp_server import SERVER
from tests.unit.llm.fake_openai import FakeModel, message, tool

SPEC = McpServerSpec(command=["unused"], timeout_s=2, max_result_chars=100)


class Clients:
    """Hands out in-process clients of the test server, counting connections; ``broken``
    makes the next ones fail to connect."""

    def __init__(self) -> None:
        self.opened = 0
        self.broken = False

    def __call__(self, name: str, spec: McpServerSpec) -> Client:
        self.opened += 1
        if self.broken:
            raise ConnectionRefusedError("nobody listens")
        return Client(SERVER, cache=None)


def profile(*grants: str | dict[str, str]) -> AgentProfile:
    return AgentProfile(name="p", tools=[ToolGrant.model_validate(g) for g in grants])


@pytest.fixture
async def clients() -> Clients:
    return Clients()


@pytest.fixture
async def catalog(clients: Clients) -> AsyncIterator[ToolCatalog]:
    book = ToolCatalog({"demo": SPEC}, clients=clients)
    yield book
    await book.aclose()


async def run(catalog: ToolCatalog, grant: str, name: str, arguments: dict[str, Any]) -> str:
    registry = await catalog.tools_for(profile(grant))
    found, args = registry.parse(name, json.dumps(arguments))
    return await registry.run(found, args, ToolContext("u1"))


@pytest.mark.parametrize(
    ("server", "tool", "expected"),
    [
        ("files", "delete", "files__delete"),
        ("files", "text.big", "files__text_big"),
        ("my-srv", "ünïcode/tool name", "my-srv___n_code_tool_name"),
    ],
)
def test_wire_names_join_server_and_tool_in_the_allowed_alphabet(
    server: str, tool: str, expected: str
) -> None:
    assert wire_name(server, tool) == expected
    assert WIRE_NAME.fullmatch(expected)


def test_a_long_wire_name_is_cut_to_64_and_stays_unique() -> None:
    first, second = wire_name("s", "a" * 80 + "1"), wire_name("s", "a" * 80 + "2")
    assert len(first) == len(second) == 64
    assert first != second
    assert WIRE_NAME.fullmatch(first)
    assert WIRE_NAME.fullmatch(second)


async def test_none_is_the_built_in_tools_and_no_server_is_started(
    catalog: ToolCatalog, clients: Clients
) -> None:
    registry = await catalog.tools_for(None)
    assert registry.names == ["current_time", "search_history"]
    assert clients.opened == 0


async def test_a_wildcard_grants_every_tool_with_its_schema_as_the_server_wrote_it(
    catalog: ToolCatalog, clients: Clients
) -> None:
    registry = await catalog.tools_for(profile("current_time", "demo.*"))
    listed = {t.name: t for t in await SERVER.list_tools()}
    offered = {s["function"]["name"]: s["function"] for s in registry.schemas()}
    assert set(offered) == {"current_time"} | {wire_name("demo", n) for n in listed}
    for name, spec in listed.items():
        sent = offered[wire_name("demo", name)]
        assert sent["parameters"] == spec.input_schema
        assert sent["description"] == spec.description
    # The nested schema travels whole: its enum and its $defs reference.
    lookup = offered["demo__lookup"]["parameters"]
    assert lookup["properties"]["mode"]["enum"] == ["fast", "deep"]
    assert "Filters" in json.dumps(lookup["$defs"])
    assert all(WIRE_NAME.fullmatch(n) for n in offered)
    # Listed once per connection, not once per turn.
    await catalog.tools_for(profile("demo.*"))
    assert clients.opened == 1


async def test_named_grants_pick_tools_and_keep_their_profile_name_and_approval(
    catalog: ToolCatalog, caplog: pytest.LogCaptureFixture
) -> None:
    grants = ("demo.echo", {"name": "demo.text.big", "approval": "required"}, "demo.nope")
    with caplog.at_level(logging.WARNING):
        registry = await catalog.tools_for(profile(*grants))
    assert registry.names == ["demo__echo", "demo__text_big"]
    big = registry.get("demo__text_big")
    assert big is not None
    assert (big.granted_as, big.approval) == ("demo.text.big", True)
    assert "no tool 'nope'" in caplog.text


async def test_a_named_grant_sets_the_approval_of_a_wildcard_tool(catalog: ToolCatalog) -> None:
    grants = ("demo.*", {"name": "demo.echo", "approval": "required"})
    registry = await catalog.tools_for(profile(*grants))
    approvals = {t.granted_as: t.approval for t in registry.tools}
    assert approvals["demo.echo"] is True
    assert approvals["demo.pid"] is False


async def test_a_built_in_needing_approval_is_marked_and_its_schema_kept(
    catalog: ToolCatalog,
) -> None:
    registry = await catalog.tools_for(profile({"name": "search_history", "approval": "required"}))
    (found,) = registry.tools
    assert found.approval is True
    assert registry.schemas()[0]["function"]["parameters"]["required"] == ["query"]
    again = await catalog.tools_for(profile({"name": "search_history", "approval": "required"}))
    assert again.tools[0] is found


async def test_a_grant_marks_a_tool_not_idempotent_built_in_or_mcp(catalog: ToolCatalog) -> None:
    grants = [
        ToolGrant(name="demo.*"),
        ToolGrant(name="demo.echo", idempotent=False),
        ToolGrant(name="current_time", idempotent=False),
        ToolGrant(name="search_history"),
    ]
    registry = await catalog.tools_for(AgentProfile(name="p", tools=grants))
    idempotent = {t.granted_as: t.idempotent for t in registry.tools}
    assert (idempotent["demo.echo"], idempotent["current_time"]) == (False, False)
    assert (idempotent["demo.pid"], idempotent["search_history"]) == (True, True)


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ('["hi"]', "must be a JSON object"),
        ('"hi"', "must be a JSON object"),
        ("{}", r"miss required keys: \['text'\]"),
        ("{nope", "not JSON"),
    ],
)
async def test_arguments_must_be_an_object_with_the_required_keys(
    catalog: ToolCatalog, arguments: str, reason: str
) -> None:
    registry = await catalog.tools_for(profile("demo.echo"))
    with pytest.raises(InvalidToolCall, match=reason):
        registry.parse("demo__echo", arguments)


async def test_a_call_runs_in_the_server(catalog: ToolCatalog) -> None:
    assert await run(catalog, "demo.*", "demo__echo", {"text": "héllo"}) == "echo: héllo"


async def test_a_result_is_cut_to_max_result_chars(catalog: ToolCatalog) -> None:
    out = await run(catalog, "demo.*", "demo__text_big", {"chars": 5000})
    assert out.startswith("y" * 100 + "\n[cut: 5000 characters, the first 100 shown]")
    assert "yyy" not in out[101:]


def test_bounded_keeps_a_text_that_fits() -> None:
    assert bounded("abc", 3) == "abc"
    assert bounded("abcd", 3) == "abc\n[cut: 4 characters, the first 3 shown]"


async def test_a_slow_tool_times_out_as_a_tool_failure_and_the_connection_stays(
    clients: Clients,
) -> None:
    book = ToolCatalog({"demo": SPEC.model_copy(update={"timeout_s": 0.3})}, clients=clients)
    try:
        with pytest.raises(ToolFailed, match=r"did not answer within 0\.3 s"):
            await run(book, "demo.*", "demo__slow", {"seconds": 30})
        assert await run(book, "demo.*", "demo__echo", {"text": "after"}) == "echo: after"
        assert clients.opened == 1
    finally:
        await book.aclose()


async def test_an_error_result_is_a_tool_failure_with_the_servers_message(
    catalog: ToolCatalog,
) -> None:
    with pytest.raises(ToolFailed, match="refused: no way"):
        await run(catalog, "demo.*", "demo__fail", {"reason": "no way"})


async def test_a_server_that_cannot_be_reached_leaves_the_turn_its_other_tools(
    catalog: ToolCatalog, clients: Clients, caplog: pytest.LogCaptureFixture
) -> None:
    clients.broken = True
    with caplog.at_level(logging.WARNING):
        registry = await catalog.tools_for(profile("current_time", "demo.*"))
    assert registry.names == ["current_time"]
    assert "MCP server demo left out of this turn" in caplog.text
    assert "ConnectionRefusedError: nobody listens" in caplog.text


async def test_a_failed_server_is_retried_after_a_backoff(
    catalog: ToolCatalog, clients: Clients
) -> None:
    clients.broken = True
    assert (await catalog.tools_for(profile("demo.*"))).names == []
    # Within the backoff: no new attempt.
    assert (await catalog.tools_for(profile("demo.*"))).names == []
    assert clients.opened == 1
    clients.broken = False
    connection = catalog._servers["demo"]
    connection._retry_at = 0.0  # the backoff has passed
    assert "demo__echo" in (await catalog.tools_for(profile("demo.*"))).names
    assert clients.opened == 2


async def test_turns_starting_together_share_one_connection(
    catalog: ToolCatalog, clients: Clients
) -> None:
    first, second = await asyncio.gather(
        catalog.tools_for(profile("demo.*")), catalog.tools_for(profile("demo.echo"))
    )
    assert "demo__echo" in first.names
    assert second.names == ["demo__echo"]
    assert clients.opened == 1


class HangingClient:
    """A server that never answers the handshake."""

    def __init__(self) -> None:
        self.left = asyncio.Event()

    async def __aenter__(self) -> HangingClient:
        try:
            await asyncio.sleep(3600)
        finally:
            self.left.set()
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


async def test_a_server_that_does_not_answer_is_left_out_after_timeout_s() -> None:
    hanging = HangingClient()
    spec = SPEC.model_copy(update={"timeout_s": 0.2})
    book = ToolCatalog({"demo": spec}, clients=lambda name, spec: cast(Client, hanging))
    try:
        assert (await book.tools_for(profile("current_time", "demo.*"))).names == ["current_time"]
        # The attempt was given up, not left running.
        await asyncio.wait_for(hanging.left.wait(), 5)
        with pytest.raises(ToolFailed, match=r"no answer within 0\.2 s\); next attempt in"):
            await book._servers["demo"].call("echo", {"text": "x"})
    finally:
        await book.aclose()


class LosingClient:
    """A client whose connection is lost (a server that died) when ``lost``."""

    def __init__(self, lost: bool) -> None:
        self.lost = lost
        self.metas: list[Any] = []

    async def __aenter__(self) -> LosingClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def list_tools(self, cursor: str | None = None) -> mcp_types.ListToolsResult:
        schema = {"type": "object", "properties": {}}
        return mcp_types.ListToolsResult(tools=[mcp_types.Tool(name="t", input_schema=schema)])

    async def call_tool(
        self, name: str, arguments: dict[str, Any], meta: Any = None
    ) -> mcp_types.CallToolResult:
        self.metas.append(meta)
        if self.lost:
            raise MCPError(code=mcp_types.CONNECTION_CLOSED, message="Connection closed")
        return mcp_types.CallToolResult(content=[mcp_types.TextContent(text="back")])


async def test_a_lost_connection_is_a_tool_failure_and_the_next_call_reconnects() -> None:
    made: list[LosingClient] = []

    def clients(name: str, spec: McpServerSpec) -> Any:
        made.append(LosingClient(lost=not made))
        return made[-1]

    connection = McpServerConnection("demo", SPEC, clients)
    try:
        with pytest.raises(ToolFailed, match="Connection closed"):
            await connection.call("t", {})
        assert await connection.call("t", {}) == "back"
        assert len(made) == 2
    finally:
        await connection.aclose()


def test_result_text_keeps_text_and_names_what_it_leaves_out() -> None:
    result = mcp_types.CallToolResult(
        content=[
            mcp_types.TextContent(text="one"),
            mcp_types.ImageContent(data="AAAA", mime_type="image/png"),
            mcp_types.EmbeddedResource(
                resource=mcp_types.TextResourceContents(uri="file:///a", text="two")
            ),
        ]
    )
    assert result_text(result) == "one\n[image content left out]\ntwo"
    structured = mcp_types.CallToolResult(content=[], structured_content={"n": 1})
    assert result_text(structured) == '{"n": 1}'


async def test_the_responder_runs_an_mcp_tool_and_returns_failures_to_the_model(
    catalog: ToolCatalog,
) -> None:
    calls = [
        tool("demo__echo", '{"text": "hi"}', "c1"),
        tool("demo__fail", '{"reason": "x"}', "c2"),
    ]
    model = FakeModel(message(None, calls), message("done"))
    responder = model.responder(tools=catalog)
    request = ReplyRequest(
        "u1", 1, ChatMessage(role="user", content="go"), profile=profile("demo.*")
    )
    assert await responder.reply(request, ReplyContext(calls=CallBuffer())) == "done"
    offered = [t["function"]["name"] for t in model.requests[0]["tools"]]
    assert "demo__echo" in offered
    assert "current_time" not in offered
    results = [m for m in model.requests[1]["messages"] if m["role"] == "tool"]
    assert [r["tool_call_id"] for r in results] == ["c1", "c2"]
    assert results[0]["content"] == "echo: hi"
    assert json.loads(results[1]["content"]) == {"error": "Error executing tool fail: refused: x"}


async def test_a_profile_without_tools_offers_none(catalog: ToolCatalog) -> None:
    model = FakeModel(message("plain"))
    responder = model.responder(tools=catalog)
    request = ReplyRequest("u1", 1, ChatMessage(role="user", content="go"), profile=profile())
    assert await responder.reply(request, ReplyContext()) == "plain"
    assert "tools" not in model.requests[0]


async def test_a_tool_call_carries_a_key_the_same_in_every_run_of_its_turn() -> None:
    from agent_actors.llm.mcp_tools import mcp_tool
    from agent_actors.llm.profiles import ToolGrant
    from agent_actors.llm.tools import ToolContext

    class Connection:
        name = "web"

        def __init__(self) -> None:
            self.keys: list[str | None] = []

        async def call(self, tool: str, args: dict[str, Any], key: str | None = None) -> str:
            self.keys.append(key)
            return "ok"

    connection = Connection()
    spec = mcp_types.Tool(name="tally", input_schema={"type": "object"})
    tool = mcp_tool(connection, spec, ToolGrant(name="web.tally"))  # type: ignore[arg-type]
    first_run = ToolContext("u1", turn_key="u1|3|req", position="1.0")
    run_again = ToolContext("u1", turn_key="u1|3|req", position="1.0")
    next_call = ToolContext("u1", turn_key="u1|3|req", position="1.1")
    for ctx in (first_run, run_again, next_call, ToolContext("u1")):
        await tool.run({}, ctx)
    a, b, c, none = connection.keys
    assert a is not None
    assert a == b  # the same call, run again after a crash
    assert c != a  # another call of the turn
    assert none is None  # no turn known: no key
