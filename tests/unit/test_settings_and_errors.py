from __future__ import annotations

import pytest

from agent_actors.errors import AgentActorsError, ContentTooLarge, ResponderTimeout, error_for_code
from agent_actors.settings import Settings


def test_env_names_reach_nested_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_ACTORS_LIMITS__HISTORY_VIEW", "9")
    monkeypatch.setenv("AGENT_ACTORS_DAPR__HTTP_PORT", "3999")
    monkeypatch.setenv("APP_API_TOKEN", "s3cret")
    monkeypatch.setenv("OPENAI_MODEL", "local-model")
    settings = Settings()
    assert settings.limits.history_view == 9
    assert settings.dapr.http_port == 3999
    assert settings.auth.app_api_token is not None
    assert settings.auth.app_api_token.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.llm.model == "local-model"


def test_domain_errors_round_trip_by_code() -> None:
    for cls in (ContentTooLarge, ResponderTimeout):
        err = error_for_code(cls.code, "why")
        assert type(err) is cls
        assert err.message == "why"
    assert type(error_for_code("no-such-code", "x")) is AgentActorsError


def test_an_empty_openai_key_means_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "")
    assert Settings().llm.api_key is None
