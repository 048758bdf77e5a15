"""Ports held only by a TIME-WAIT socket, made on the real kernel, and what a server's bind
says about them."""

from __future__ import annotations

import socket
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


def client_time_wait() -> int:
    """A port held only by a client's TIME-WAIT (the client closed first; like every client,
    it set no SO_REUSEADDR): what a load run leaves on its clients' ephemeral ports."""
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
