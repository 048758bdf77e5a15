from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from tools.openai_stub.server import StubServer

from tests.integration.stack_fixture import RunningStack, start_stack


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """One real stack (Redis, placement, scheduler, daprd, app) for the whole session."""
    yield from start_stack(tmp_path_factory.mktemp("stack"))


@pytest.fixture
def user() -> str:
    """A fresh user id per test, so tests never see each other's actors."""
    return f"u{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def stub() -> Iterator[StubServer]:
    """A real OpenAI-protocol server (tools/openai_stub) for the module's stack."""
    server = StubServer().start()
    yield server
    server.stop()
