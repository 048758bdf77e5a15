"""JSON log lines: context fields, the trace id, whole tracebacks, uvicorn's lines adopted."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider

from agent_actors import logs


@pytest.fixture
def lines() -> Iterator[io.StringIO]:
    """A JSON handler like the app's on a logger of its own, written to a buffer."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.json_formatter())
    handler.addFilter(logs.ContextFilter())
    logger = logging.getLogger("test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield out
    logger.removeHandler(handler)


def records(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_line_carries_the_bound_user_and_seq_and_stays_in_its_task(lines: io.StringIO) -> None:
    async def turn(user: str, seq: int) -> None:
        logs.bind(user=user)
        logs.bind(seq=seq)
        await asyncio.sleep(0)
        logging.getLogger("test.logs").info("turn %s committed", seq)

    async def both() -> None:
        await asyncio.gather(turn("alice", 1), turn("bob", 7))
        logging.getLogger("test.logs").info("outside")

    asyncio.run(both())
    got = {r["message"]: r for r in records(lines)}
    assert got["turn 1 committed"]["user"] == "alice"
    assert got["turn 1 committed"]["seq"] == 1
    assert (got["turn 7 committed"]["user"], got["turn 7 committed"]["seq"]) == ("bob", 7)
    assert "user" not in got["outside"]
    assert {"time", "level", "logger"} <= set(got["outside"])
    assert got["outside"]["level"] == "INFO"


def test_a_line_in_a_span_carries_its_trace_id(lines: io.StringIO) -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("turn") as span:
        logging.getLogger("test.logs").info("inside")
    logging.getLogger("test.logs").info("after")
    inside, after = records(lines)
    assert inside["trace_id"] == format(span.get_span_context().trace_id, "032x")
    assert "trace_id" not in after


def test_a_traceback_is_kept_whole(lines: io.StringIO) -> None:
    try:
        raise ValueError("boom ünïcode")
    except ValueError:
        logging.getLogger("test.logs").exception("failed")
    (line,) = records(lines)
    assert line["message"] == "failed"
    assert line["exc_info"].startswith("Traceback (most recent call last)")
    assert "ValueError: boom ünïcode" in line["exc_info"]
    assert "test_a_traceback_is_kept_whole" in line["exc_info"]


@pytest.fixture
def uvicorn_loggers() -> Iterator[logging.Logger]:
    """uvicorn's loggers, put back as they were after the test; yields the access logger."""
    saved = [
        (lg, lg.handlers[:], lg.propagate, lg.filters[:], lg.level)
        for lg in map(logging.getLogger, logs.UVICORN_LOGGERS)
    ]
    yield logging.getLogger("uvicorn.access")
    for lg, handlers, propagate, filters, level in saved:
        lg.handlers[:], lg.propagate, lg.filters[:] = handlers, propagate, filters
        lg.setLevel(level)


@pytest.fixture
def root_lines() -> Iterator[io.StringIO]:
    """The app's JSON handler on the root logger, written to a buffer."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.json_formatter())
    handler.addFilter(logs.ContextFilter())
    logging.getLogger().addHandler(handler)
    yield out
    logging.getLogger().removeHandler(handler)


def access_line(access: logging.Logger) -> None:
    access.info(
        '%s - "%s %s HTTP/%s" %d',
        "127.0.0.1:5000",
        "GET",
        "/healthz",
        "1.1",
        200,
        extra={"color_message": "\x1b[1mGET\x1b[0m"},
    )


def test_uvicorns_lines_go_through_the_json_handler(
    uvicorn_loggers: logging.Logger, root_lines: io.StringIO
) -> None:
    access = uvicorn_loggers
    # As uvicorn leaves them: a handler of its own, no propagation, INFO.
    access.setLevel(logging.INFO)
    access.addHandler(logging.StreamHandler(io.StringIO()))
    access.propagate = False
    logs._adopt_uvicorn()
    access_line(access)
    (line,) = records(root_lines)
    assert line["logger"] == "uvicorn.access"
    assert line["message"] == '127.0.0.1:5000 - "GET /healthz HTTP/1.1" 200'
    assert (line["method"], line["path"], line["status"]) == ("GET", "/healthz", 200)
    assert "color_message" not in line


def test_a_uvicorn_logger_switched_off_stays_off(
    uvicorn_loggers: logging.Logger, root_lines: io.StringIO
) -> None:
    access = uvicorn_loggers
    # As `uvicorn --no-access-log` leaves it: no handler, no propagation.
    access.setLevel(logging.INFO)
    access.handlers.clear()
    access.propagate = False
    logs._adopt_uvicorn()
    # uvicorn writes access lines only when this is true (h11_impl, httptools_impl).
    assert not access.hasHandlers()
    access_line(access)
    assert root_lines.getvalue() == ""
