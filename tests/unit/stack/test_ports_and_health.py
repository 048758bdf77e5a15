from __future__ import annotations

import socket
from pathlib import Path

import pytest

from agent_actors.errors import StackError
from agent_actors.stack.health import actor_runtime_running
from agent_actors.stack.ports import check_ports_free, port_fields, private_settings, stack_ports


def test_private_settings_give_every_port_a_distinct_free_value(tmp_path: Path) -> None:
    settings = private_settings(tmp_path)
    ports = stack_ports(settings)
    assert len(set(ports.values())) == len(ports)
    assert set(port_fields()) <= {f for f in type(settings.stack).model_fields}
    check_ports_free(settings)


def test_a_busy_port_is_named_in_one_sentence(tmp_path: Path) -> None:
    settings = private_settings(tmp_path)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", settings.dapr.http_port))
        busy.listen()
        with pytest.raises(StackError, match=rf"port {settings.dapr.http_port} \(daprd HTTP\)"):
            check_ports_free(settings)


def test_the_same_port_twice_is_refused(tmp_path: Path) -> None:
    settings = private_settings(tmp_path)
    settings.stack.redis_port = settings.stack.app_port
    with pytest.raises(StackError, match="also set as"):
        check_ports_free(settings)


@pytest.mark.parametrize(
    ("meta", "ready"),
    [
        ({}, False),
        ({"actorRuntime": {"runtimeStatus": "INITIALIZING", "activeActors": []}}, False),
        (
            {"actorRuntime": {"runtimeStatus": "RUNNING", "activeActors": [{"type": "ChatAgent"}]}},
            False,
        ),
        (
            {
                "actorRuntime": {
                    "runtimeStatus": "RUNNING",
                    "activeActors": [
                        {"type": t, "count": 0}
                        for t in ("ChatAgent", "ResponseAgent", "MemoryAgentActor")
                    ],
                }
            },
            True,
        ),
    ],
)
def test_daprd_is_ready_only_with_the_three_types_running(
    meta: dict[str, object], ready: bool
) -> None:
    assert actor_runtime_running(meta) is ready
