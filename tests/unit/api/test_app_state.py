"""What an app's parts share lives on that app: two apps in one process share none of it."""

from __future__ import annotations

from fastapi.testclient import TestClient

from agent_actors.main import create_app
from agent_actors.settings import AuthSettings, Settings


def test_two_apps_share_no_stream_hub_and_no_runs() -> None:
    settings = Settings(auth=AuthSettings(app_api_token="unit-token"))
    with TestClient(create_app(settings)) as one, TestClient(create_app(settings)) as two:
        first, second = one.app.state, two.app.state  # type: ignore[attr-defined]
        assert first.streams is not second.streams
        assert first.stream_turns is not second.stream_turns
        assert first.deps.runs is not second.deps.runs
        assert first.subscription_stats is not second.subscription_stats
