"""Actor ids per user: the same id, the user id, for all three actor types.

Placement picks an actor's host by hashing its id on a ring built from the hosts alone (Dapr's
``placement/hashing``: virtual nodes are hashes of host names), so actors of different types
with the same id always share a replica. A user's ChatAgent, ResponseAgent and
MemoryAgentActor therefore live together: a turn's actor calls never cross to another
replica, and a failover moves a user's three actors at once. (The tutorial's ids,
``response-<user>`` and ``memory-<user>``, spread them over the replicas; state kept under
those ids is read no more: ResponseAgent's count is rebuilt from the committed history, and
``POST /memory/{id}/rebuild`` refills a window, see docs/architecture.md.)
"""

from __future__ import annotations

CHAT = "ChatAgent"
RESPONSE = "ResponseAgent"
MEMORY = "MemoryAgentActor"


def response_id(user_id: str) -> str:
    return user_id


def memory_id(user_id: str) -> str:
    return user_id
