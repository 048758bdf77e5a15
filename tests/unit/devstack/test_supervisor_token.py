"""The app token and environment the supervisor gives daprd and the app (nothing is started
here)."""

from __future__ import annotations

from pathlib import Path

from devstack.private import private_settings
from devstack.supervisor import Stack


def tokens(stack: Stack) -> tuple[str, str]:
    pair = stack.pairs[0]
    daprd = stack._daprd(Path("/nonexistent/daprd"), pair).env["APP_API_TOKEN"]
    app = stack._app(pair).env["APP_API_TOKEN"]
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


def test_replicas_get_pairs_of_their_own_that_share_redis_and_the_token(tmp_path: Path) -> None:
    settings = private_settings(tmp_path)
    settings.stack.replicas = 3
    stack = Stack(settings)
    assert [p.index for p in stack.pairs] == [0, 1, 2]
    # pair 0 keeps the configured ports; pair i takes them + 100*i
    assert (stack.pairs[0].app, stack.pairs[0].http) == (
        settings.stack.app_port,
        settings.dapr.http_port,
    )
    assert stack.pairs[2].app == settings.stack.app_port + 200
    apps = [stack._app(p) for p in stack.pairs]
    daprds = [stack._daprd(Path("/nonexistent/daprd"), p) for p in stack.pairs]
    assert [a.name for a in apps] == ["app", "app-1", "app-2"]
    assert [d.name for d in daprds] == ["daprd", "daprd-1", "daprd-2"]
    assert {a.env["APP_API_TOKEN"] for a in apps} == {d.env["APP_API_TOKEN"] for d in daprds}
    relay = {a.env["AGENT_ACTORS_STREAMS__RELAY_URL"] for a in apps}
    assert relay == {f"redis://127.0.0.1:{settings.stack.redis_port}"}
    # each daprd talks to its own app
    for app, daprd, pair in zip(apps, daprds, stack.pairs, strict=True):
        assert daprd.argv[daprd.argv.index("--app-port") + 1] == str(pair.app)
        assert app.env["AGENT_ACTORS_DAPR__HTTP_PORT"] == str(pair.http)


def test_daprd_runs_on_one_core_of_go_workers_unless_told_otherwise(tmp_path: Path) -> None:
    settings = private_settings(tmp_path)
    daprd = Stack(settings)._daprd(Path("/nonexistent/daprd"), Stack(settings).pairs[0])
    assert daprd.env["GOMAXPROCS"] == "1"
    settings.stack.daprd_gomaxprocs = 0  # Go's own default: one per CPU
    stack = Stack(settings)
    assert "GOMAXPROCS" not in stack._daprd(Path("/nonexistent/daprd"), stack.pairs[0]).env


def test_daprd_and_the_app_get_the_same_max_body_size(tmp_path: Path) -> None:
    """The app splits its actor payloads to stay under the size daprd enforces: one setting
    configures both (by default daprd's own default, 4 MiB)."""
    settings = private_settings(tmp_path)
    assert settings.dapr.max_body_bytes == 4 * 1024 * 1024
    settings.dapr.max_body_bytes = 1536 * 1024
    stack = Stack(settings)
    daprd = stack._daprd(Path("/nonexistent/daprd"), stack.pairs[0])
    assert daprd.argv[daprd.argv.index("--max-body-size") + 1] == str(1536 * 1024)
    assert stack._app(stack.pairs[0]).env["AGENT_ACTORS_DAPR__MAX_BODY_BYTES"] == str(1536 * 1024)
