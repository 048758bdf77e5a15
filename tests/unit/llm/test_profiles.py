"""Agent profiles: the packaged file, the checks at start-up, what a profile changes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from agent_actors.errors import Misconfigured
from agent_actors.llm.offline import OfflineResponder
from agent_actors.llm.profiles import (
    PACKAGED_FILE,
    AgentProfile,
    ProfileBook,
    load_book,
    model_ask,
    packaged_book,
)
from agent_actors.llm.responder import ReplyContext, ReplyRequest
from agent_actors.llm.tools import DEFAULT_TOOLS
from agent_actors.main import create_app
from agent_actors.models import ChatMessage
from agent_actors.settings import AgentSettings, AuthSettings, LlmSettings, Settings

BUILTIN = DEFAULT_TOOLS.names


def load(tmp_path: Path, text: str, memory_window: int = 3) -> ProfileBook:
    path = tmp_path / "agents.yaml"
    path.write_text(text)
    return load_book(path, BUILTIN, memory_window)


def test_the_packaged_default_is_the_service_as_the_settings_say() -> None:
    book = load_book(None, BUILTIN, 3)
    default = book.agents[book.default]
    llm = LlmSettings()
    # Every request option the responder sends comes from the settings, as without profiles.
    assert model_ask(default, llm) == model_ask(None, llm)
    assert (default.memory_window, default.prompt_history) == (None, None)
    # The same tools in the same order as the built-in registry offers them.
    assert [g.name for g in default.tools] == DEFAULT_TOOLS.names
    assert not any(g.approval == "required" for g in default.tools)
    assert len(book.agents) >= 2
    assert packaged_book().default == book.default


def test_a_profile_overrides_the_settings_field_by_field() -> None:
    llm = LlmSettings(model="base", temperature=0.7, max_output_tokens=100)
    ask = model_ask(AgentProfile(model="other", max_tokens=5, system_prompt="Be terse."), llm)
    assert (ask.model, ask.system_prompt) == ("other", "Be terse.")
    assert ask.options == {"max_tokens": 5, "temperature": 0.7}


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("default: nobody\nagents:\n  a: {}\n", "the default agent 'nobody' is not among"),
        ("default: 'x y'\nagents:\n  'x y': {}\n", "agent name 'x y' must be"),
        ("default: a\nagents:\n  a: {tools: [web_search]}\n", "grants 'web_search', which is"),
        ("default: a\nagents:\n  a: {tools: [files.read]}\n", "none declared"),
        (
            "default: a\nmcp_servers:\n  files: {url: 'http://x/mcp'}\n"
            "agents:\n  a: {tools: [files]}\n",
            "grants 'files', which is neither",
        ),
        ("default: a\nagents:\n  a: {tools: [current_time, current_time]}\n", "twice"),
        ("default: a\nagents:\n  a: {memory_window: 9}\n", "memory keeps 3"),
        ("default: a\nagents:\n  a: {prompt_history: 1000}\n", "the most is 100"),
        ("default: a\nagents:\n  a: {temperature: -1}\n", "agents.a.temperature"),
        ("default: a\nagents:\n  a: {colour: red}\n", "agents.a.colour"),
        (
            "default: a\nmcp_servers:\n  s: {command: [x], url: 'http://x'}\nagents:\n  a: {}\n",
            "either 'command' or 'url'",
        ),
        ("default: a\nagents: [a\n", "is not valid YAML"),
        ("- a\n", "must be a mapping"),
    ],
)
def test_a_bad_file_is_refused_with_its_reason(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(Misconfigured, match=r"the agents file .*agents\.yaml") as raised:
        load(tmp_path, text)
    assert reason in raised.value.message


def test_mcp_grants_name_a_declared_server(tmp_path: Path) -> None:
    book = load(
        tmp_path,
        "default: a\nmcp_servers:\n  files: {command: [python, -m, srv]}\n"
        "agents:\n  a:\n    tools:\n"
        "      [current_time, files.*, {name: files.delete, approval: required}]\n",
    )
    grants = book.agents["a"].tools
    assert [(g.name, g.approval) for g in grants] == [
        ("current_time", "none"),
        ("files.*", "none"),
        ("files.delete", "required"),
    ]


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(Misconfigured, match="cannot be read"):
        load_book(tmp_path / "nope.yaml", BUILTIN, 3)


def test_the_app_refuses_to_start_with_a_bad_file(tmp_path: Path) -> None:
    path = tmp_path / "agents.yaml"
    path.write_text("default: ghost\nagents:\n  a: {}\n")
    settings = Settings(auth=AuthSettings(app_api_token="t"), agents=AgentSettings(file=path))
    with pytest.raises(SystemExit, match="the default agent 'ghost' is not among"):
        create_app(settings)


def test_the_image_carries_the_packaged_file() -> None:
    # The Dockerfile copies src/agent_actors whole: the file must live inside the package.
    assert PACKAGED_FILE.parent.name == "agent_actors"
    assert PACKAGED_FILE.is_file()


def request(**kwargs: object) -> ReplyRequest:
    memory = (
        ChatMessage(role="user", content="one"),
        ChatMessage(role="assistant", content="two"),
    )
    return ReplyRequest(
        "u1",
        2,
        ChatMessage(role="user", content="hi"),
        memory=memory,
        count=2,
        **kwargs,  # type: ignore[arg-type]
    )


async def test_the_default_profiles_offline_reply_is_the_tutorials() -> None:
    responder = OfflineResponder(clock=lambda: datetime(2030, 1, 1, tzinfo=UTC))
    book = packaged_book()
    plain = await responder.reply(request(), ReplyContext())
    with_default = await responder.reply(
        request(profile=book.agents[book.default], default_profile=True), ReplyContext()
    )
    expected = (
        "Memory: user: one; assistant: two. Got your message: hi at 2030-01-01T00:00:00+00:00"
    )
    assert plain == with_default == expected


async def test_another_profiles_offline_reply_names_it() -> None:
    responder = OfflineResponder(clock=lambda: datetime(2030, 1, 1, tzinfo=UTC))
    reply = await responder.reply(
        request(profile=AgentProfile(name="support"), default_profile=False), ReplyContext()
    )
    assert reply.startswith("[support] Memory: user: one; assistant: two. Got your message: hi")
