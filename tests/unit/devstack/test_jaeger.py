"""What a stack with tracing on gives Jaeger, daprd and the app (nothing is started here)."""

from __future__ import annotations

from pathlib import Path

import yaml

from devstack import cli, jaeger
from devstack.ports import stack_ports
from devstack.private import private_settings
from devstack.settings import REPO_ROOT, DevSettings
from devstack.supervisor import Stack


def traced(tmp_path: Path) -> DevSettings:
    settings = private_settings(tmp_path)
    settings.tracing.enabled = True
    settings.tracing.sampling_ratio = 0.25
    return settings


def test_off_nothing_of_tracing_is_passed_on(tmp_path: Path) -> None:
    settings = private_settings(tmp_path)
    stack = Stack(settings)
    daprd = stack._daprd(Path("/nonexistent/daprd"), stack.pairs[0])
    assert daprd.argv.count("--config") == 2
    assert "OTEL_SERVICE_NAME" not in daprd.env
    assert not [k for k in stack._app(stack.pairs[0]).env if "TRACING" in k]
    assert not [name for name in stack_ports(settings) if "Jaeger" in name]


def test_on_daprd_exports_to_the_stacks_jaeger_under_a_name_of_its_own(tmp_path: Path) -> None:
    settings = traced(tmp_path)
    stack = Stack(settings)
    daprd = stack._daprd(Path("/nonexistent/daprd"), stack.pairs[0])
    configs = [daprd.argv[i + 1] for i, a in enumerate(daprd.argv) if a == "--config"]
    assert len(configs) == 3  # the shared one, the local one, tracing last (it wins)
    spec = yaml.safe_load(Path(configs[-1]).read_text())["spec"]["tracing"]
    assert spec["samplingRate"] == "0.25"
    assert spec["otel"] == {
        "endpointAddress": f"127.0.0.1:{settings.stack.jaeger_otlp_port}",
        "protocol": "http",
        "isSecure": False,
    }
    assert daprd.env["OTEL_SERVICE_NAME"] == "agent-actors-daprd"


def test_on_the_app_exports_to_the_same_jaeger(tmp_path: Path) -> None:
    settings = traced(tmp_path)
    env = Stack(settings)._app(Stack(settings).pairs[0]).env
    assert env["AGENT_ACTORS_TRACING__ENABLED"] == "true"
    assert env["AGENT_ACTORS_TRACING__OTLP_ENDPOINT"] == (
        f"http://127.0.0.1:{settings.stack.jaeger_otlp_port}"
    )
    assert env["AGENT_ACTORS_TRACING__SAMPLING_RATIO"] == "0.25"


def test_jaeger_listens_on_loopback_only_and_its_ports_are_checked(tmp_path: Path) -> None:
    settings = traced(tmp_path)
    proc = jaeger.jaeger_process(settings, Path("/nonexistent/jaeger"), tmp_path / "j.log")
    config = yaml.safe_load((settings.stack.run_dir / "jaeger.yaml").read_text())
    query = config["extensions"]["jaeger_query"]
    endpoints = {
        config["receivers"]["otlp"]["protocols"]["http"]["endpoint"],
        query["http"]["endpoint"],
        query["grpc"]["endpoint"],
    }
    s = settings.stack
    assert endpoints == {
        f"127.0.0.1:{p}"
        for p in (s.jaeger_otlp_port, s.jaeger_query_port, s.jaeger_query_grpc_port)
    }
    assert config["receivers"].keys() == {"otlp"}
    assert config["service"]["telemetry"]["metrics"]["level"] == "none"  # no :8888 listener
    assert proc.argv[1:] == ["--config", f"file:{settings.stack.run_dir / 'jaeger.yaml'}"]
    ports = stack_ports(settings)
    assert {ports["Jaeger OTLP"], ports["Jaeger query"], ports["Jaeger query gRPC"]} == {
        s.jaeger_otlp_port,
        s.jaeger_query_port,
        s.jaeger_query_grpc_port,
    }


def test_the_clusters_jaeger_is_the_local_one_on_cluster_addresses() -> None:
    (cluster,) = [
        d
        for d in yaml.safe_load_all((REPO_ROOT / "k8s" / "optional" / "jaeger.yaml").read_text())
        if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "jaeger-config"
    ]
    in_cluster = cluster["data"]["config.yaml"].replace("0.0.0.0:", "127.0.0.1:")
    local = jaeger.CONFIG.format(
        max_traces=jaeger.MAX_TRACES, query=16686, query_grpc=16685, otlp=4318
    )
    assert yaml.safe_load(in_cluster) == yaml.safe_load(local)


def test_make_up_prints_where_the_traces_are_only_with_tracing_on(tmp_path: Path) -> None:
    settings = private_settings(tmp_path)
    assert "jaeger" not in cli.urls(settings)
    settings.tracing.enabled = True
    port = settings.stack.jaeger_query_port
    assert f"http://127.0.0.1:{port}/api/traces?service=agent-actors" in cli.urls(settings)
