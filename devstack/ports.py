"""Which ports the stack binds, and a check that each is free before anything starts."""

from __future__ import annotations

import fcntl
import json
import socket
import tempfile
import time
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from devstack.errors import StackError
from devstack.pairs import PairPorts, default_pairs
from devstack.settings import DevSettings, StackSettings


def stack_ports(settings: DevSettings, pairs: list[PairPorts] | None = None) -> dict[str, int]:
    """Every port the stack listens on, named for the message a clash produces."""
    s = settings.stack
    shared = {
        "Redis": s.redis_port,
        "placement": s.placement_port,
        "placement raft": s.placement_raft_port,
        "placement healthz": s.placement_healthz_port,
        "placement metrics": s.placement_metrics_port,
        "scheduler": s.scheduler_port,
        "scheduler etcd client": s.scheduler_etcd_client_port,
        "scheduler etcd peer": s.scheduler_etcd_peer_port,
        "scheduler healthz": s.scheduler_healthz_port,
        "scheduler metrics": s.scheduler_metrics_port,
    }
    if settings.tracing.enabled:
        shared["Jaeger OTLP"] = s.jaeger_otlp_port
        shared["Jaeger query"] = s.jaeger_query_port
        shared["Jaeger query gRPC"] = s.jaeger_query_grpc_port
    for pair in pairs if pairs is not None else default_pairs(settings):
        shared.update(pair.ports())
    return shared


EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def ephemeral_range() -> range | None:
    """The ports the kernel gives outgoing connections (None where /proc does not say)."""
    try:
        low, high = EPHEMERAL_RANGE_FILE.read_text().split()
    except (OSError, ValueError):
        return None
    return range(int(low), int(high) + 1)


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could bind ``port`` now. The bind is the servers' own: Go's
    net.Listen, redis and uvicorn all set SO_REUSEADDR, so a TIME-WAIT left by a server
    (which inherited the flag) does not block them, nor this check. A TIME-WAIT or live
    connection of a client that did not set it blocks them all (measured: placement exits
    with "bind: address already in use"), so this check reports it busy too."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


# Dapr 1.18's placement and scheduler parse --healthz-listen-address but never use it: their
# health servers listen on every interface (pkg/healthz/server: net.Listen(":port")), where a
# socket on any local address is in the way, so the check binds there too.
ALL_INTERFACES = {"placement healthz", "scheduler healthz"}


def check_ports_free(settings: DevSettings, pairs: list[PairPorts] | None = None) -> None:
    ports = stack_ports(settings, pairs)
    seen: dict[int, str] = {}
    for name, port in ports.items():
        if port in seen:
            raise StackError(f"the {name} port {port} is also set as the {seen[port]} port.")
        seen[port] = name
        if not port_is_free(port, "0.0.0.0" if name in ALL_INTERFACES else "127.0.0.1"):
            raise StackError(
                f"port {port} ({name}) is already in use by another process: stop it or "
                f"choose another port in the settings (docs/configuration.md){_hint(port)}."
            )


def _hint(port: int) -> str:
    ephemeral = ephemeral_range()
    if ephemeral is None or port not in ephemeral:
        return ""
    return (
        f"; it lies in the kernel's ephemeral range {ephemeral.start}-{ephemeral.stop - 1}, "
        "where outgoing connections take ports (a closed one holds it for a minute)"
    )


# Ports picked by any process of this machine in the last PICKED_FOR_S: several test processes
# (make test's pytest workers) start private stacks at once, and a port one of them picked is
# free again until its server binds it, so the kernel may hand it to another meanwhile.
PICKED = Path(tempfile.gettempdir()) / "agent-actors-picked-ports.json"
PICKED_FOR_S = 120.0


def free_ports(count: int, taken: Collection[int] = ()) -> list[int]:
    """Ports the kernel hands out now (for a private stack, see private.py), none of
    ``taken`` nor of those another process picked just before: ports picked by an earlier
    call are free again once it returns, and the kernel may hand them out a second time."""
    with _recently_picked() as recent:
        found = _kernel_ports(count, {*taken, *recent})
        now = time.time()
        recent.update(dict.fromkeys(found, now))
    return found


def _kernel_ports(count: int, taken: Collection[int]) -> list[int]:
    socks = []
    found: list[int] = []
    try:
        while len(found) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)  # held until the end: no port comes twice in this call
            if (port := sock.getsockname()[1]) not in taken:
                found.append(port)
        return found
    finally:
        for sock in socks:
            sock.close()


@contextmanager
def _recently_picked() -> Iterator[dict[int, float]]:
    """The machine's recently picked ports, under an exclusive lock, written back after."""
    with PICKED.with_suffix(".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            raw = json.loads(PICKED.read_text()) if PICKED.exists() else {}
        except (OSError, ValueError):
            raw = {}  # unreadable: forget it, nothing depends on it but this
        now = time.time()
        recent = {
            int(port): float(at)
            for port, at in (raw.items() if isinstance(raw, dict) else ())
            if now - float(at) < PICKED_FOR_S
        }
        yield recent
        PICKED.write_text(json.dumps(recent))


def port_fields() -> list[str]:
    """The stack's own port settings (daprd's HTTP and gRPC ports are the service's)."""
    return [name for name in StackSettings.model_fields if name.endswith("_port")]
