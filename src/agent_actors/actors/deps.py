"""What the actors are given when the runtime builds them (through ``actor_factory``)."""

from __future__ import annotations

from dataclasses import dataclass

from agent_actors.actors.client import ProxyFactory
from agent_actors.events.publisher import Publisher
from agent_actors.llm.responder import Responder
from agent_actors.settings import Settings


@dataclass
class ActorDeps:
    settings: Settings
    proxies: ProxyFactory
    publisher: Publisher
    responder: Responder
