"""The app token the supervisor gives daprd and the app (nothing is started here)."""

from __future__ import annotations

from pathlib import Path

from devstack.private import private_settings
from devstack.supervisor import Stack


def tokens(stack: Stack) -> tuple[str, str]:
    daprd = stack._daprd(Path("/nonexistent/daprd")).env["APP_API_TOKEN"]
    app = stack._app().env["APP_API_TOKEN"]
    return daprd, app


def test_without_a_configured_token_each_stack_makes_its_own(tmp_path: Path) -> None:
    settings = private_settings(tmp_path)
    first, second = Stack(settings), Stack(settings)
    daprd, app = tokens(first)
    assert daprd == app
    assert len(daprd) >= 32
    assert tokens(second)[0] != daprd


def test_a_configured_token_is_used_as_it_is(tmp_path: Path) -> None:
    stack = Stack(private_settings(tmp_path, app_api_token="given"))
    assert tokens(stack) == ("given", "given")
