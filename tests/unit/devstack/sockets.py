"""Ports held only by a TIME-WAIT socket, made on the real kernel, and what a server's bind
says about them."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable
from pathlib import Path

TIME_WAIT = "06"  # the state column of /proc/net/tcp


def tcp_states(port: int) -> set[str]:
    """The states of the IPv4 TCP sockets whose local port is ``port`` (the kernel's view)."""
    states = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port:
            states.add(fields[3])
    return states


def held_only_by_time_wait(make: Callable[[], int]) -> int:
    """``make``'s port once no other socket of the machine shares its number (other tests and
    stacks open connections all the time: one may get the same local port to another peer)."""
    for _ in range(20):
        port = make()
        if tcp_states(port) == {TIME_WAIT}:
            return port
    raise AssertionError("no port held by a TIME-WAIT alone in 20 tries")


def client_time_wait() -> int:
    """A port held only by a client's TIME-WAIT (the client closed first; like every client,
    it set no SO_REUSEADDR): what a load run leaves on its clients' ephemeral ports."""
    return held_only_by_time_wait(_client_time_wait)


def _client_time_wait() -> int:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with socket.socket() as client:
            client.connect(listener.getsockname())
            served, _ = listener.accept()
            port = int(client.getsockname()[1])
        served.close()
    return port


def server_time_wait() -> int:
    """A port held only by a server's TIME-WAIT (the server closed first; its listener set
    SO_REUSEADDR, as Go's net.Listen, redis and uvicorn do): a stack just stopped."""
    return held_only_by_time_wait(_server_time_wait)


def _server_time_wait() -> int:
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = int(listener.getsockname()[1])
        with socket.socket() as client:
            client.connect(("127.0.0.1", port))
            served, _ = listener.accept()
            served.close()
            assert client.recv(1) == b""  # the server's FIN has arrived: it closed first
    return port


def server_could_bind(port: int) -> bool:
    """What net.Listen does on Linux: SO_REUSEADDR, bind, listen."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
            sock.listen()
        except OSError:
            return False
    return True


def _address(hex_addr: str) -> str:
    """/proc/net's address column (host byte order in 32-bit words) as text."""
    raw = bytes.fromhex(hex_addr)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(words))


def open_to_receive(pid: int) -> set[tuple[str, str, int]]:
    """(protocol, address, port) of every socket of process ``pid`` that others can reach: TCP
    listeners and UDP sockets not connected to one peer. A wildcard address means every
    interface."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed meanwhile
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("tcp", "tcp6", "udp", "udp6"):
        for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            if fields[9] not in inodes:
                continue
            local, remote = fields[1].split(":"), fields[2].split(":")
            tcp_listener = table.startswith("tcp") and fields[3] == "0A"
            udp_unconnected = table.startswith("udp") and int(remote[1], 16) == 0
            if tcp_listener or udp_unconnected:
                found.add((table.rstrip("6"), _address(local[0]), int(local[1], 16)))
    return found


def is_loopback(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback
