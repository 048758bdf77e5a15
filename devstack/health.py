"""Readiness probes for each part of the stack."""

from __future__ import annotations

import socket

import httpx

ACTOR_TYPES = ("ChatAgent", "ResponseAgent", "MemoryAgentActor")


def redis_ping(port: int) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(16).startswith(b"+PONG")


def http_ok(url: str, status: int = 200) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == status
    except httpx.HTTPError:
        return False


def daprd_ready(http_port: int) -> bool:
    """daprd is healthy and its actor runtime runs with our three types registered."""
    base = f"http://127.0.0.1:{http_port}/v1.0"
    if not http_ok(f"{base}/healthz", 204):
        return False
    try:
        meta = httpx.get(f"{base}/metadata", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return False
    return actor_runtime_running(meta)


def actor_runtime_running(meta: dict[str, object]) -> bool:
    runtime = meta.get("actorRuntime")
    if not isinstance(runtime, dict) or runtime.get("runtimeStatus") != "RUNNING":
        return False
    types = {a.get("type") for a in runtime.get("activeActors") or [] if isinstance(a, dict)}
    return set(ACTOR_TYPES) <= types
