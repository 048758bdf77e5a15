"""Schemathesis over the OpenAPI on the real stack, with API keys off and on: no server error,
and every answer (its status, content type, headers and body, the stream's events included)
as the OpenAPI declares it."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.stack_fixture import RunningStack, start_stack

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
)
ADMIN_KEY = "fuzz-admin-key"
# Fixed, so a failure is seen again with the same cases (its report names them).
SEED = "20261207"


def fuzz(app_url: str, *headers: str) -> None:
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{app_url}/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        "25",
        "--workers",
        "1",
        "--seed",
        SEED,
        "--no-color",
        *(arg for header in headers for arg in ("--header", header)),
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=540, check=False)
    report = run.stdout[-6000:] + run.stderr[-2000:]
    assert run.returncode == 0, report
    assert " passed" in report, report
    assert "failure" not in report.split("SUMMARY")[-1], report


def test_the_api_answers_as_it_declares(stack: RunningStack) -> None:
    fuzz(stack.app_url)


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    env = {"AGENT_ACTORS_AUTH__API_KEYS": json.dumps({ADMIN_KEY: "*", "other": "someone"})}
    yield from start_stack(tmp_path_factory.mktemp("fuzz-keyed"), extra_env=env)


def test_the_api_answers_as_it_declares_with_api_keys(keyed: RunningStack) -> None:
    fuzz(keyed.app_url, f"Authorization: Bearer {ADMIN_KEY}")
    # And a caller without a key gets the declared 401s, never a server error.
    fuzz(keyed.app_url)
