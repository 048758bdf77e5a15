"""Actor ids per user, as in the tutorial: ``user1``, ``response-user1``, ``memory-user1``."""

from __future__ import annotations

CHAT = "ChatAgent"
RESPONSE = "ResponseAgent"
MEMORY = "MemoryAgentActor"


def response_id(user_id: str) -> str:
    return f"response-{user_id}"


def memory_id(user_id: str) -> str:
    return f"memory-{user_id}"


def user_of(actor_id: str, prefix: str) -> str:
    return actor_id.removeprefix(f"{prefix}-")
