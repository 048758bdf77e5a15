"""What the actors (and the routes, through ``app.state.deps``) are given."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from agent_actors.actors.runs import TurnRuns
from agent_actors.actors.task_waits import DelegationWaits
from agent_actors.events.publisher import Publisher
from agent_actors.events.task_messages import TaskBus
from agent_actors.llm.profiles import ProfileBook, packaged_book
from agent_actors.llm.responder import Responder
from agent_actors.settings import Settings
from agent_actors.sidecar.actor_client import ProxyFactory
from agent_actors.sidecar.actor_runtime import StateLoader
from agent_actors.sidecar.breaker import Breaker
from agent_actors.store.dead_letters import DeadLetterStore
from agent_actors.store.session_index import SessionIndex
from agent_actors.store.session_threads import SessionThreads
from agent_actors.store.task_letters import TaskLetterStore
from agent_actors.streams.hub import StreamHub


@dataclass
class ActorDeps:
    settings: Settings
    proxies: ProxyFactory
    publisher: Publisher
    responder: Responder
    # Used by the dead-letter route and the memory routes, and by ChatAgent's erasure (a
    # DELETE, a retention erase): a user's dead letters go with the conversation.
    dead_letters: DeadLetterStore
    # A session's agent threads (their registry) and which thread a named agent is.
    threads: SessionThreads
    # Open after a reminder registration failed: the scheduler is skipped for a while.
    reminders: Breaker = field(default_factory=lambda: Breaker(5.0))
    # The session index (GET /sessions); None: not kept.
    sessions: SessionIndex | None = None
    # The agent profiles (agents.file), checked at start-up.
    profiles: ProfileBook = field(default_factory=packaged_book)
    # Unix time now, wherever a deadline is set or decided (a turn's commit time, which
    # retention counts from; a long turn's start; an approval's deadline): tests move it
    # instead of sleeping.
    clock: Callable[[], float] = time.time
    # The long-turn runs in this process (create_app makes one per app; GET ?wait= reads it).
    runs: TurnRuns = field(default_factory=TurnRuns)
    # Any actor's state as saved (daprd's actor state API, no lock), for the routes; None: the
    # unit twins, which have no sidecar.
    saved_state: StateLoader | None = None
    # Delegation (actors/delegation.py): the task and reply topics, the replies this process
    # waits for, and the tasks Dapr gave up on; None: not wired (the unit twins).
    tasks: TaskBus | None = None
    waits: DelegationWaits = field(default_factory=DelegationWaits)
    task_letters: TaskLetterStore | None = None
    # The app's stream hub: its turn log (when kept) goes with an erased conversation.
    streams: StreamHub | None = None
