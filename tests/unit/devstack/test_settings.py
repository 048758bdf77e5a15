"""The dev stack's settings: the service's plus its own section, from the same environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.settings import REPO_ROOT, DevSettings


def test_stack_variables_keep_their_names(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DAPR_BIN_DIR", raising=False)
    monkeypatch.setenv("AGENT_ACTORS_STACK__APP_PORT", "8123")
    monkeypatch.setenv("AGENT_ACTORS_STACK__RUN_DIR", "/tmp/elsewhere")
    monkeypatch.setenv("AGENT_ACTORS_STACK__BIN_DIR", "/opt/prefixed")
    monkeypatch.setenv("AGENT_ACTORS_DAPR__HTTP_PORT", "3999")
    monkeypatch.setenv("OPENAI_MODEL", "local-model")
    settings = DevSettings()
    assert settings.stack.app_port == 8123
    assert settings.stack.run_dir == Path("/tmp/elsewhere")
    assert settings.stack.bin_dir == Path("/opt/prefixed")
    assert settings.dapr.http_port == 3999  # the service's own, which the stack passes on
    assert settings.llm.model == "local-model"  # the service's well-known names too
    assert settings.daprd_url == "http://127.0.0.1:3999"
    assert settings.app_url == "http://127.0.0.1:8123"


def test_dapr_bin_dir_wins_over_the_prefixed_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_ACTORS_STACK__BIN_DIR", "/opt/prefixed")
    monkeypatch.setenv("DAPR_BIN_DIR", "/opt/well-known")
    assert DevSettings().stack.bin_dir == Path("/opt/well-known")
    monkeypatch.setenv("DAPR_BIN_DIR", "")  # empty: unset
    assert DevSettings().stack.bin_dir == Path("/opt/prefixed")


def test_defaults_are_in_the_checkout(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DAPR_BIN_DIR", "AGENT_ACTORS_STACK__BIN_DIR", "AGENT_ACTORS_STACK__RUN_DIR"):
        monkeypatch.delenv(name, raising=False)
    stack = DevSettings().stack
    assert (REPO_ROOT / "Makefile").exists()
    assert stack.components_dir == REPO_ROOT / "components"
    assert stack.run_dir == REPO_ROOT / ".run"
    assert stack.bin_dir == REPO_ROOT / ".dapr" / "bin"


def test_a_private_stack_finds_the_runtime_where_dapr_bin_dir_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from devstack.private import private_settings

    monkeypatch.setenv("DAPR_BIN_DIR", str(tmp_path / "bin"))
    assert private_settings(tmp_path).stack.bin_dir == tmp_path / "bin"
    monkeypatch.delenv("DAPR_BIN_DIR")
    assert private_settings(tmp_path).stack.bin_dir == DevSettings().stack.bin_dir
