from __future__ import annotations

import socket
from pathlib import Path

import pytest

from agent_actors.settings import DaprSettings
from devstack.errors import StackError
from devstack.health import actor_runtime_running
from devstack.ports import (
    check_ports_free,
    ephemeral_range,
    free_ports,
    port_fields,
    port_is_free,
    stack_ports,
)
from devstack.private import private_pairs, private_settings
from devstack.settings import DevSettings, StackSettings
from tests.unit.devstack.sockets import (
    TIME_WAIT,
    client_time_wait,
    server_could_bind,
    server_time_wait,
    tcp_states,
)

# The documented interfaces keep Dapr's and the app's well-known numbers (docs/devstack.md).
WELL_KNOWN = {"app", "daprd HTTP", "daprd gRPC", "placement", "scheduler"}


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


def test_a_server_time_wait_does_not_block_the_check() -> None:
    port = server_time_wait()
    assert tcp_states(port) == {TIME_WAIT}
    assert port_is_free(port)
    assert server_could_bind(port)


def test_a_client_time_wait_blocks_the_check_as_it_blocks_a_server() -> None:
    port = client_time_wait()
    assert tcp_states(port) == {TIME_WAIT}
    # Reporting it free would only move the failure: the server's own bind is refused too.
    assert not server_could_bind(port)
    assert not port_is_free(port)


def test_a_live_listener_is_busy() -> None:
    with socket.socket() as busy:
        busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert not port_is_free(busy.getsockname()[1])


def test_default_ports_lie_outside_the_ephemeral_range() -> None:
    ephemeral = ephemeral_range()
    assert ephemeral is not None, "no /proc/sys/net/ipv4/ip_local_port_range"
    defaults = stack_ports(DevSettings(stack=StackSettings(), dapr=DaprSettings()))
    chosen = {n: p for n, p in defaults.items() if n not in WELL_KNOWN}
    assert len(chosen) == len(defaults) - len(WELL_KNOWN)
    inside = {n: p for n, p in chosen.items() if p in ephemeral}
    assert inside == {}, f"in the ephemeral range {ephemeral}"


def test_a_busy_port_in_the_ephemeral_range_says_why_it_may_be_taken(tmp_path: Path) -> None:
    settings = private_settings(tmp_path)  # free_ports: the kernel's ephemeral ports
    settings.stack.redis_port = client_time_wait()
    with pytest.raises(StackError, match="ephemeral range"):
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


def test_free_ports_never_hands_out_a_port_taken_before() -> None:
    # Ports from an earlier call are free again once it returns: the kernel may hand them out
    # a second time, and a private stack's second pair then clashed with its first (CI).
    first = free_ports(40)
    again = free_ports(40, taken=set(first))
    assert len(set(again)) == 40
    assert not set(first) & set(again)


def test_private_pairs_get_ports_no_other_part_of_the_stack_has(tmp_path: Path) -> None:
    settings = private_settings(tmp_path)
    settings.stack.replicas = 4
    pairs = private_pairs(settings)
    ports = list(stack_ports(settings, pairs).values())
    assert len(ports) == len(set(ports))
