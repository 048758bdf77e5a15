"""Which responder the settings choose, and the key never reaching the logs."""

from __future__ import annotations

import logging

import pytest

from agent_actors.llm.factory import build_responder
from agent_actors.llm.offline import OfflineResponder
from agent_actors.llm.openai_client import OpenAIResponder
from agent_actors.settings import LlmSettings, Settings


@pytest.fixture(autouse=True)
def no_openai_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_BASE_URL", "OPENAI_API_KEY", "OPENAI_MODEL"):
        monkeypatch.delenv(name, raising=False)


def test_offline_by_default() -> None:
    assert isinstance(build_responder(Settings()), OfflineResponder)


@pytest.mark.parametrize(
    ("name", "value"),
    [("OPENAI_BASE_URL", "http://127.0.0.1:11434/v1"), ("OPENAI_API_KEY", "sk-secret-value")],
)
def test_a_base_url_or_a_key_chooses_the_model(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    assert isinstance(build_responder(Settings()), OpenAIResponder)


def test_the_key_is_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    settings = Settings(llm=LlmSettings(api_key="sk-secret-value", model="my-model"))
    with caplog.at_level(logging.DEBUG):
        build_responder(settings)
    assert "my-model" in caplog.text
    assert "sk-secret-value" not in caplog.text
    assert "sk-secret-value" not in repr(settings)
