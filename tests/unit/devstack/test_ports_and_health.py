from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from agent_actors.settings import DaprSettings
from devstack import ports
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


def test_free_ports_never_hands_out_a_port_another_process_just_picked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two test processes starting stacks at once: a port one picked is free until its
    server binds it, and the kernel may hand it to the other meanwhile (as this fake kernel
    does, from the same port every call)."""

    class Kernel:
        def __init__(self, *_args: object) -> None:
            pass

        def bind(self, _address: object) -> None:
            Kernel.port += 1
            self.port = Kernel.port

        def getsockname(self) -> tuple[str, int]:
            return ("127.0.0.1", self.port)

        def close(self) -> None:
            pass

    monkeypatch.setattr(ports, "PICKED", tmp_path / "picked.json")
    monkeypatch.setattr(ports.socket, "socket", Kernel)
    Kernel.port = 40000
    first = free_ports(5)
    Kernel.port = 40000  # the kernel starts over: the same ports again
    second = free_ports(5)
    assert not set(first) & set(second)
    # What another process picked long ago is free for this one again.
    stale = {str(p): 0.0 for p in first + second}
    (tmp_path / "picked.json").write_text(json.dumps(stale))
    Kernel.port = 40000
    assert free_ports(5) == first


def test_private_pairs_get_ports_no_other_part_of_the_stack_has(tmp_path: Path) -> None:
    settings = private_settings(tmp_path)
    settings.stack.replicas = 4
    pairs = private_pairs(settings)
    ports = list(stack_ports(settings, pairs).values())
    assert len(ports) == len(set(ports))
