"""daprd's GET /dapr/config: the actor runtime settings it reads, and what a reconnect does."""

from __future__ import annotations

from dapr.actor.runtime.runtime import ActorRuntime
from fastapi.testclient import TestClient

from agent_actors.main import create_app
from agent_actors.settings import ActorSettings, AuthSettings, Settings

TOKEN = {"dapr-api-token": "unit-token"}


def test_the_actor_runtime_configuration_comes_from_settings() -> None:
    actors = ActorSettings(idle_timeout_s=120, scan_interval_s=7, drain_ongoing_call_timeout_s=90)
    with TestClient(
        create_app(Settings(auth=AuthSettings(app_api_token="unit-token"), actors=actors))
    ) as client:
        config = client.get("/dapr/config", headers=TOKEN).json()
    assert set(config["entities"]) == {"ChatAgent", "ResponseAgent", "MemoryAgentActor"}
    assert config["actorIdleTimeout"].startswith("0h2m0s")
    assert config["actorScanInterval"].startswith("0h0m7s")
    assert config["drainOngoingCallTimeout"].startswith("0h1m30s")
    assert config["drainRebalancedActors"] is True
    assert "reentrancy" not in config or not config["reentrancy"]["enabled"]


def test_daprd_asking_again_makes_the_app_forget_its_actor_objects() -> None:
    with TestClient(create_app(Settings(auth=AuthSettings(app_api_token="unit-token")))) as client:
        manager = ActorRuntime._actor_managers["ChatAgent"]
        manager._active_actors["u1"] = object()  # an actor object with a cache of its state
        client.get("/dapr/config")  # not from daprd (no token): nothing happens
        assert "u1" in manager._active_actors
        client.get("/dapr/config", headers=TOKEN)
        assert manager._active_actors == {}
