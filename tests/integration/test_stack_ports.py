"""The pre-start port check against the stack's own servers, on the real kernel: it calls a
port free exactly when placement can bind it (the incident: "port 58080 (placement healthz)
is already in use" right after a load run, with only a TIME-WAIT on that port)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agent_actors.errors import StackError
from agent_actors.settings import Settings
from agent_actors.stack.ports import check_ports_free, port_is_free, private_settings
from agent_actors.stack.runtime import ensure_runtime
from agent_actors.stack.supervisor import Stack
from tests.unit.stack.sockets import TIME_WAIT, client_time_wait, server_time_wait, tcp_states


def placement_binds(settings: Settings) -> bool:
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
