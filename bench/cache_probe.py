"""How many state keys a user's actors keep cached in the app: ``GET /inspect/{id}/cache``."""

from __future__ import annotations

from bench.client import Connection


async def cached_key_counts(http: Connection, user: str) -> dict[str, int | None] | None:
    """Per actor type, the number of cached keys (None: the actor is not active in the app);
    None when this build of the app has no such route (before the bounded cache)."""
    resp = await http.get(f"/inspect/{user}/cache")
    if resp.status_code != 200:
        return None
    return {actor: None if keys is None else len(keys) for actor, keys in resp.json().items()}
