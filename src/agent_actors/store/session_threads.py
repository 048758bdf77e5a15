"""A session's agent threads: which agents it talks to besides its default one, and which
thread a request naming an agent goes to (docs/architecture.md, "Sessions and threads").

Dapr cannot enumerate actors, so the threads of a session are registered in the state store
through daprd's state API (not through an actor: a thread that wrote it through another actor
of its session would wait, with its own lock held, on an actor a coordinator's turn may hold
while it waits on this thread):

``session-agents|<session>``   {"agents": [name, ...]}, in the order of their first turns

A thread registers itself when it admits its first turn, before anything of that turn is
written, so no crash leaves a thread with state that is not listed; it unregisters itself as
the last step of its erasure, and the key goes with its last agent. Both happen under the
thread's turn lock; the threads of one session write the key concurrently, so each write is a
read-modify-write guarded by the ETag (as the dead letters are). The default thread (the
session's own id) is never registered: it always exists.
"""

from __future__ import annotations

from collections import OrderedDict

from pydantic import BaseModel, Field

from agent_actors.models import thread_id
from agent_actors.sidecar.actor_runtime import StateLoader
from agent_actors.store.committed import committed_history
from agent_actors.store.dead_letters import VersionedStore, update_with_etag

# Sessions this process found talking to the default agent in their own thread: a fact that
# never changes (see ``thread_of``), remembered so a named agent costs no read after the first.
KNOWN_PLAIN = 10_000


def registry_key(session: str) -> str:
    # '|' is not allowed in user ids: no session's key can collide with another key family.
    return f"session-agents|{session}"


class SessionAgents(BaseModel):
    agents: list[str] = Field(default_factory=list, description="in the order of first turns")


class SessionThreads:
    def __init__(self, store: VersionedStore, load: StateLoader | None) -> None:
        self._store = store
        # ChatAgent's saved state (daprd's actor state API): where a session's own thread says
        # which agent it talks to. None (a unit twin without it): every own thread is plain.
        self._load = load
        self._plain: OrderedDict[str, None] = OrderedDict()

    async def agents(self, session: str) -> list[str]:
        """The session's registered agents (not the default's thread), oldest first."""
        raw, _etag = await self._store.get(registry_key(session))
        return [] if raw is None else SessionAgents.model_validate(raw).agents

    async def add(self, session: str, agent: str) -> None:
        """Register ``agent``'s thread of ``session`` (idempotent: no write when listed)."""

        def add(entry: SessionAgents) -> bool:
            if agent in entry.agents:
                return False
            entry.agents.append(agent)
            return True

        await update_with_etag(self._store, registry_key(session), SessionAgents, add)

    async def remove(self, session: str, agent: str) -> None:
        """Unregister ``agent``'s thread; the key goes when no agent is left (only if nobody
        registered one since it was read)."""
        key = registry_key(session)

        def drop(entry: SessionAgents) -> bool:
            if agent not in entry.agents:
                return False
            entry.agents.remove(agent)
            return True

        await update_with_etag(self._store, key, SessionAgents, drop)
        raw, etag = await self._store.get(key)
        if raw is not None and etag is not None and not SessionAgents.model_validate(raw).agents:
            await self._store.delete(key, etag)

    async def thread_of(self, session: str, agent: str | None, default: str) -> str:
        """The actor id a request of ``session`` naming ``agent`` goes to: its thread
        (models.thread_id), or the session's own one when that conversation began, before
        sessions had threads, with this agent named (it keeps its history and its agent).

        A session's own thread binds to the default agent once it has a turn, and only a
        conversation from before threads is bound to another one: once seen plain, a session
        stays plain (a delete empties it; its next first turn is the default's again)."""
        if agent is None or agent == default or self._load is None or session in self._plain:
            return thread_id(session, agent, default)
        meta = await committed_history(self._load, session, 1).meta()
        if meta.agent == agent:
            return session
        if not meta.agent or meta.agent == default:
            self._plain[session] = None
            if len(self._plain) > KNOWN_PLAIN:
                self._plain.popitem(last=False)
        return thread_id(session, agent, default)
