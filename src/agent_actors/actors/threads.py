"""A session's threads, one per agent it talks to (docs/architecture.md, "Sessions and threads").

A thread is a conversation like any other, whose three actors have the thread's id
(``models.thread_id``): the default agent's thread is the session's own id, another agent's
``<session>~<agent>``. This module holds what knows of more than one thread: the name a
request asks for, checked; a thread's registration (``ThreadEntry``, held by ChatAgent); a
session's agents as ``GET /chat/{id}`` lists them; and the erasure of a whole session.
"""

from __future__ import annotations

import asyncio

from pydantic import BaseModel, Field

from agent_actors.actors.proxies import ChatAgentClient
from agent_actors.actors.services import ActorDeps
from agent_actors.errors import InvalidInput, UnknownAgent
from agent_actors.llm.profiles import ProfileBook
from agent_actors.models import AGENT_NAME, split_thread, thread_id
from agent_actors.store.session_threads import SessionThreads

# Rounds of a session's erasure: a thread whose first turn registered it while the threads
# listed were being erased is erased by the next round.
ERASE_ROUNDS = 3


def checked_agent(book: ProfileBook, name: str | None) -> str | None:
    """An agent a request names (None: left out), a valid name of one of the profiles."""
    if name is None:
        return None
    if not AGENT_NAME.fullmatch(name):
        raise InvalidInput(
            "an agent's name has 1 to 64 letters, digits, '_', '.' or '-' (GET /agents)"
        )
    if book.profile(name) is None:
        raise UnknownAgent(
            f"there is no agent {name!r}; the agents are {', '.join(sorted(book.agents))} "
            "(GET /agents)"
        )
    return name


class ThreadEntry:
    """A ChatAgent's place in its session: its agent (None: the session's own thread), and its
    entry in the session's registry (``store/session_threads.py``)."""

    def __init__(self, threads: SessionThreads, thread: str) -> None:
        self._threads = threads
        self.session, self.agent = split_thread(thread)

    async def admitting(self, turns: int) -> None:
        """A turn is admitted: at the first, the thread is registered before anything of it
        is written (idempotent: a retried first turn registers nothing new)."""
        if self.agent is not None and turns == 0:
            await self._threads.add(self.session, self.agent)

    async def erased(self) -> None:
        """The thread's keys are gone: unregister it (last, so a failure half-way leaves it
        listed, and the session's erasure or the retry finds it)."""
        if self.agent is not None:
            await self._threads.remove(self.session, self.agent)


class AgentThread(BaseModel):
    """One agent's thread of a session, as ``GET /chat/{id}`` lists it."""

    agent: str
    turns: int = Field(description="committed turns of this agent's thread")
    last_activity: float | None = Field(None, description="Unix time of its latest turn")


async def session_agents(deps: ActorDeps, session: str) -> list[AgentThread]:
    """The session's own thread (its agent: the default, or a conversation's from before
    threads), then each registered agent's, in the order of their first turns."""
    names = await deps.threads.agents(session)
    threads = [session, *(registered(session, name) for name in names)]
    summaries = await asyncio.gather(
        *(ChatAgentClient(deps.proxies, thread).summary() for thread in threads)
    )
    return [
        AgentThread(
            agent=summary.agent or name, turns=summary.turns, last_activity=summary.last_activity
        )
        for name, summary in zip([deps.profiles.default, *names], summaries, strict=True)
    ]


async def erase_session(deps: ActorDeps, session: str) -> None:
    """Erase every thread of the session (each as ``DELETE /chat/{id}?agent=`` does: it goes
    from the registry last), then the session's own thread, then its kept tasks.
    Idempotent."""
    for _ in range(ERASE_ROUNDS):
        names = await deps.threads.agents(session)
        if not names:
            break
        await asyncio.gather(
            *(ChatAgentClient(deps.proxies, registered(session, n)).delete() for n in names)
        )
    await ChatAgentClient(deps.proxies, session).delete()
    if deps.task_letters is not None:
        # The session's delegated tasks Dapr gave up on hold their text: they go with it.
        await deps.task_letters.forget(session)


def registered(session: str, agent: str) -> str:
    """A registered agent's thread: ``<session>~<agent>`` even if the agents file has made
    that agent the default since (its thread keeps the id it was created with)."""
    return thread_id(session, agent, default="")
