from __future__ import annotations

import pytest
from pydantic import ValidationError

from agent_actors.errors import AgentActorsError, ContentTooLarge, ResponderTimeout, error_for_code
from agent_actors.settings import LlmSettings, Settings


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


def test_well_known_names_win_over_the_prefixed_ones_of_their_section(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_MODEL", "well-known")
    monkeypatch.setenv("AGENT_ACTORS_LLM__MODEL", "prefixed")
    monkeypatch.setenv("AGENT_ACTORS_LLM__TIMEOUT_S", "3")  # same section, not overridden
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("APP_API_TOKEN", "")  # empty: the prefixed token stays
    monkeypatch.setenv("AGENT_ACTORS_AUTH__APP_API_TOKEN", "prefixed-token")
    settings = Settings()
    assert settings.llm.model == "well-known"
    assert settings.llm.timeout_s == 3
    assert settings.llm.base_url == "http://127.0.0.1:9/v1"
    assert settings.auth.app_api_token is not None
    assert settings.auth.app_api_token.get_secret_value() == "prefixed-token"


def test_what_the_code_passes_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_MODEL", "from-env")
    assert Settings(llm=LlmSettings(model="given")).llm.model == "given"


def test_the_service_has_no_dev_stack_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    # The stack's variables reach the app's environment (make up exports them): ignored.
    monkeypatch.setenv("AGENT_ACTORS_STACK__APP_PORT", "8123")
    monkeypatch.setenv("DAPR_BIN_DIR", "/opt/dapr")
    fields = set(Settings.model_fields)
    assert "stack" not in fields
    assert not {f for f in fields if "openai" in f or "dapr_bin" in f}  # no mirror fields
    assert "8123" not in repr(Settings())
    assert "/opt/dapr" not in repr(Settings())


def test_a_call_record_keeps_at_least_its_minimum_share_of_a_page() -> None:
    llm = LlmSettings()
    # The defaults: pages of 5 records under 32 KB, so 6.4 KB a record.
    assert llm.calls_page_bytes // llm.calls_page_size == 6553
    with pytest.raises(ValidationError, match="leaves a call record under 2048 bytes"):
        LlmSettings(calls_page_size=20)  # 1.6 KB a record: too little
    assert LlmSettings(calls_page_size=20, calls_page_bytes=131072).calls_page_size == 20
