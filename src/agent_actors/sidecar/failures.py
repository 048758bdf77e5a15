"""What a failed call to daprd is to the service: the one table from daprd's failures to the
domain error tree, as httpx maps its transport's errors once for every request.

A call to daprd fails in two ways, and both become the domain error of the daprd API it was
for (the path's first segment after the version, ``/v1.0/<api>/...``):

=========  =========================================  =====================================
API        domain error                               what the caller makes of it
=========  =========================================  =====================================
actors     ``ActorUnavailable`` (503, Retry-After 1)  a client retries; pub/sub: RETRY
state      ``StoreUnavailable`` (503, Retry-After 1)  dead letters: RETRY; admin routes: 503
publish    ``PublishFailed``                          the event stays in the outbox
other      ``ActorUnavailable``                       (``/v1.0/metadata``: the inspector)
=========  =========================================  =====================================

- **unreachable**: no answer at all (connection refused or reset, no answer in time);
- **refused**: an answer that is not what the caller asked for (any non-2xx for most calls).

An answer a caller expects (an ETag conflict on a state write: 409 or 412) is not a failure:
the caller reads it before it hands the rest to ``refused``. What daprd said goes into the
error for the logs; ``ActorUnavailable`` keeps it out of the answer to a client (its ``cause``).
"""

from __future__ import annotations

from collections.abc import Callable

from agent_actors.errors import (
    ActorUnavailable,
    AgentActorsError,
    PublishFailed,
    StoreUnavailable,
)

# Bytes of daprd's answer kept in the error (its {"errorCode", "message"} fits).
SAID_BYTES = 300


def _actor(said: str) -> AgentActorsError:
    return ActorUnavailable(cause=said)


FAILURES: dict[str, Callable[[str], AgentActorsError]] = {
    "actors": _actor,
    "state": StoreUnavailable,
    "publish": PublishFailed,
}


def api_of(path: str) -> str:
    """The daprd API a request path is for: ``/v1.0/state/statestore/bulk`` -> ``state``."""
    parts = path.split("/", 3)  # ["", "v1.0", api, rest]
    return parts[2].split("?", 1)[0] if len(parts) > 2 else ""


def failure(path: str, said: str) -> AgentActorsError:
    """The domain error of a failed call to ``path``, carrying what daprd (or the transport)
    said."""
    return FAILURES.get(api_of(path), _actor)(said)


def unreachable(method: str, path: str, why: object) -> AgentActorsError:
    """daprd did not answer ``method path`` (refused, reset, timed out)."""
    return failure(path, f"daprd did not answer {method} {path}: {why}")


def refused(method: str, path: str, status: int, body: bytes) -> AgentActorsError:
    """daprd answered ``method path`` with ``status``: not what the caller asked for."""
    text = body[:SAID_BYTES].decode(errors="replace")
    return failure(path, f"daprd answered {status} to {method} {path}: {text}")


def ok(method: str, path: str, status: int, body: bytes) -> bytes:
    """The body of a 2xx answer; any other status raised as ``refused``."""
    if not 200 <= status < 300:
        raise refused(method, path, status, body)
    return body
