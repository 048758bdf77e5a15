"""The tool registry: schemas the model sees, argument checks, the two tools."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from agent_actors.llm.tools import DEFAULT_TOOLS, InvalidToolCall, ToolContext
from agent_actors.models import ChatMessage


def test_schemas_name_each_tool_with_its_parameters() -> None:
    schemas = {s["function"]["name"]: s["function"] for s in DEFAULT_TOOLS.schemas()}
    assert set(schemas) == {"current_time", "search_history"}
    assert schemas["search_history"]["parameters"]["required"] == ["query"]


@pytest.mark.parametrize(
    ("name", "arguments", "reason"),
    [
        ("nope", "{}", "no tool named 'nope'"),
        ("search_history", "{bad", "not JSON"),
        ("search_history", "{}", "query"),
        ("search_history", '{"query": "x", "limit": 50}', "limit"),
        ("current_time", '{"zone": "x"}', "zone"),
    ],
)
def test_invalid_calls_say_what_to_fix(name: str, arguments: str, reason: str) -> None:
    with pytest.raises(InvalidToolCall, match=reason):
        DEFAULT_TOOLS.parse(name, arguments)


async def test_current_time_uses_the_clock() -> None:
    ctx = ToolContext("u1", clock=lambda: datetime(2030, 1, 2, tzinfo=UTC))
    tool, args = DEFAULT_TOOLS.parse("current_time", "")
    assert json.loads(await DEFAULT_TOOLS.run(tool, args, ctx)) == {
        "utc": "2030-01-02T00:00:00+00:00"
    }


async def test_search_reads_the_committed_history_when_it_can() -> None:
    async def search(query: str, limit: int) -> list[ChatMessage]:
        return [ChatMessage(role="user", content=f"found {query} {limit}")]

    tool, args = DEFAULT_TOOLS.parse("search_history", '{"query": "cat", "limit": 2}')
    out = await DEFAULT_TOOLS.run(tool, args, ToolContext("u1", search_history=search))
    assert json.loads(out) == {"matches": [{"role": "user", "content": "found cat 2"}]}


async def test_search_falls_back_to_the_recent_window_newest_first() -> None:
    recent = [ChatMessage(role="user", content=c) for c in ("Cat one", "dog", "a cat two")]
    tool, args = DEFAULT_TOOLS.parse("search_history", '{"query": "CAT"}')
    out = json.loads(await DEFAULT_TOOLS.run(tool, args, ToolContext("u1", recent=recent)))
    assert [m["content"] for m in out["matches"]] == ["a cat two", "Cat one"]
