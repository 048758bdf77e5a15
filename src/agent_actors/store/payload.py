"""Actor payloads sized in encoded bytes, so that none passes daprd's max body size.

daprd refuses a request body over its max body size (``dapr.max_body_bytes``, its
``--max-body-size``), and an actor's answer from another replica travels in a gRPC message
under the same bound. Actor payloads are JSON with ``ensure_ascii`` (``serializer.py``): a
character takes 1 to 12 bytes, so the same number of entries weighs up to 12 times more in
one conversation than in another. So an actor call whose size follows the conversation (a
history view, an export page, the prompt history, a call-log page) carries as many entries as
fit in the budget, says where it stopped, and its caller asks again from there.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from pydantic import BaseModel

from agent_actors.settings import PAYLOAD_HEADROOM, DaprSettings
from agent_actors.sidecar.serializer import SERIALIZER

T = TypeVar("T", bound=BaseModel)


def budget(dapr: DaprSettings) -> int:
    """Bytes one actor payload's entries may take: the max body size, less the room its
    envelope and other fields need."""
    return dapr.max_body_bytes - PAYLOAD_HEADROOM


def encoded_size(item: BaseModel) -> int:
    """``item``'s bytes in an actor payload, as the serializer writes them."""
    return len(SERIALIZER.serialize(item.model_dump(mode="json")))


def newest_that_fit(
    items: Sequence[T], limit: int, size: Callable[[T], int] = encoded_size
) -> list[T]:
    """The newest (last) of ``items`` whose encoded bytes, separators included, stay within
    ``limit``; at least one when there is one (the settings make any one entry fit, and a
    reader paging on must always move)."""
    used, count = 0, 0
    for item in reversed(items):
        used += size(item) + 1
        if used > limit and count:
            break
        count += 1
    return list(items[len(items) - count :])
