"""dapr.yaml (Multi-App Run) runs the same app with the same components as the local stack that
`make run` and the integration tests start."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import yaml

from agent_actors.settings import DaprSettings
from devstack.settings import DevSettings, StackSettings
from devstack.supervisor import Stack
from tests.integration.stack_fixture import private_settings
from tests.manifests import REPO


def daprd_argv(stack: Stack) -> list[str]:
    """Pair 0's daprd command, as the stack would start it."""
    return stack._daprd(Path("/x/daprd"), stack.pairs[0]).argv


RUN_FILE = REPO / "dapr.yaml"


@pytest.fixture(scope="module")
def app() -> dict:
    run = yaml.safe_load(RUN_FILE.read_text())
    assert run["version"] == 1
    (only,) = run["apps"]
    return only


def _resolve(app: dict, path: str) -> Path:
    # The Dapr CLI resolves an app's paths against its appDirPath, itself against the file.
    return (RUN_FILE.parent / app["appDirPath"] / path).resolve()


def _argv_value(argv: list[str], flag: str) -> str:
    return argv[argv.index(flag) + 1]


def test_resources_are_the_components_the_integration_tests_load(app: dict, tmp_path: Path) -> None:
    (resources,) = app["resourcesPaths"]
    components = _resolve(app, resources)
    assert components == StackSettings().components_dir.resolve()
    # The integration tests' own settings (tests/integration/stack_fixture.py) ...
    settings = private_settings(tmp_path)
    assert settings.stack.components_dir.resolve() == components
    # ... and the daprd command line the stack builds from them.
    argv = daprd_argv(Stack(settings))
    assert Path(_argv_value(argv, "--resources-path")).resolve() == components
    assert Path(_argv_value(argv, "--config")).resolve() == _resolve(app, app["configFilePath"])


def test_same_app_and_ports_as_the_stack(app: dict) -> None:
    s, d = DevSettings(), DaprSettings()
    argv = daprd_argv(Stack(s))
    assert app["appID"] == d.app_id == _argv_value(argv, "--app-id")
    assert app["appPort"] == s.stack.app_port
    assert app["daprHTTPPort"] == d.http_port
    assert app["daprGRPCPort"] == d.grpc_port
    assert app["appProtocol"] == _argv_value(argv, "--app-protocol")


def test_app_command_is_the_stacks_app(app: dict) -> None:
    cmd = app["command"]
    stack_app = (lambda st: st._app(st.pairs[0]).argv)(Stack(DevSettings()))
    start = stack_app.index("agent_actors.main:create_app")
    assert cmd[cmd.index("uvicorn") + 1 :] == stack_app[start:]
    assert app["appHealthCheckPath"] == "/healthz"


def test_daprd_api_and_control_plane_are_on_loopback_as_in_the_stack(app: dict) -> None:
    argv = daprd_argv(Stack(DevSettings()))
    assert app["apiListenAddresses"] == _argv_value(argv, "--dapr-listen-addresses") == "127.0.0.1"
    assert app["placementHostAddress"] == _argv_value(argv, "--placement-host-address")
    assert app["schedulerHostAddress"] == _argv_value(argv, "--scheduler-host-address")
    cmd = app["command"]
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"


def test_paths_are_per_app_so_the_repos_dot_dapr_does_not_shadow_them(app: dict) -> None:
    # The CLI prefers <appDirPath>/.dapr/{resources,config.yaml} over `common:`; per-app paths
    # win over both. This repo's .dapr/ holds the runtime build.
    assert "resourcesPaths" in app
    assert "configFilePath" in app


def test_redis_host_for_daprd_is_documented_on_the_command_line() -> None:
    # The Dapr CLI passes `env:` to the app only (daprd inherits the CLI's environment), and
    # the components read REDIS_HOST with envRef: the documented command sets it.
    text = RUN_FILE.read_text()
    commands = [
        shlex.split(line.lstrip("# ").split("  #")[0])
        for line in text.splitlines()
        if "dapr run -f ." in line
    ]
    assert commands
    assert all(any(w.startswith("REDIS_HOST=") for w in c) for c in commands)
    for m in ("statestore", "pubsub"):
        component = yaml.safe_load((StackSettings().components_dir / f"{m}.yaml").read_text())
        refs = {i.get("envRef") for i in component["spec"]["metadata"]}
        assert "REDIS_HOST" in refs
