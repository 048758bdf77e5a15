"""The stack's sockets on the real kernel: every one is on loopback but the two that Dapr 1.18
gives no address flag; and the pre-start port check calls a port free exactly when placement
can bind it (the incident: "port 58080 (placement healthz) is already in use" right after a
load run, with only a TIME-WAIT on that port)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from devstack.errors import StackError
from devstack.ports import ALL_INTERFACES, check_ports_free, port_is_free, stack_ports
from devstack.private import private_settings
from devstack.runtime import ensure_runtime
from devstack.settings import DevSettings
from devstack.supervisor import Stack
from tests.integration.stack_fixture import RunningStack
from tests.unit.devstack.sockets import (
    TIME_WAIT,
    client_time_wait,
    is_loopback,
    open_to_receive,
    server_time_wait,
    tcp_states,
)


def test_every_socket_of_the_stack_is_on_loopback_but_the_two_health_ports(
    stack: RunningStack,
) -> None:
    """TCP listeners and unconnected UDP sockets (mDNS was one: UDP 5353 on every interface)
    of every process. Placement's and scheduler's health servers listen on every interface
    whatever their flags say (Dapr 1.18.2's pkg/healthz/server binds ":port"): docs/devstack.md
    says so, and this test fails the day a runtime honours --healthz-listen-address."""
    found = {
        (proc.name, *sock)
        for proc in stack.stack.processes
        if proc.pid is not None
        for sock in open_to_receive(proc.pid)
    }
    ports = stack_ports(stack.settings)
    # The parse sees every port the stack configures (profiling is off).
    assert {port for *_, port in found} == set(ports.values()) - {ports["daprd profile"]}
    exposed = {
        (name, proto, port) for name, proto, address, port in found if not is_loopback(address)
    }
    assert exposed == {
        ("placement", "tcp", ports["placement healthz"]),
        ("scheduler", "tcp", ports["scheduler healthz"]),
    }
    assert {"placement healthz", "scheduler healthz"} == ALL_INTERFACES
    # What they serve there: health, not placement's tables.
    assert (
        httpx.get(f"http://127.0.0.1:{ports['placement healthz']}/placement/state").status_code
        == 404
    )


def placement_binds(settings: DevSettings) -> bool:
    placement = Stack(settings)._placement(ensure_runtime(settings.stack.bin_dir)["placement"])
    placement.start()
    try:
        placement.wait_ready(time.monotonic() + settings.stack.ready_timeout_s)
    except StackError:
        assert "address already in use" in placement.log_path.read_text()
        return False
    finally:
        placement.stop()
    return True


@pytest.mark.parametrize(
    ("held_by", "bindable"), [(client_time_wait, False), (server_time_wait, True)]
)
def test_the_check_agrees_with_placements_own_bind(
    tmp_path: Path, held_by: Callable[[], int], bindable: bool
) -> None:
    settings = private_settings(tmp_path)
    port = held_by()
    assert tcp_states(port) == {TIME_WAIT}
    free = port_is_free(port)
    settings.stack.placement_healthz_port = port
    assert (free, placement_binds(settings)) == (bindable, bindable)


def test_placements_health_port_is_checked_on_every_interface(tmp_path: Path) -> None:
    """Dapr 1.18's placement ignores --healthz-listen-address: a socket on another local
    address (127.0.0.2 here) is in its way, and the check says so before it starts."""
    settings = private_settings(tmp_path)
    with socket.socket() as other:
        other.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        other.bind(("127.0.0.2", settings.stack.placement_healthz_port))
        other.listen()
        with pytest.raises(StackError, match="placement healthz"):
            check_ports_free(settings)
        assert not placement_binds(settings)
