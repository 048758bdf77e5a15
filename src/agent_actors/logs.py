"""Logging set-up: plain lines locally, JSON lines (python-json-logger) in containers.

A JSON line carries the context of the work it belongs to: ``user`` and ``seq`` (bound with
``bind`` by the routes and actors; a context variable, so each request and each actor call
has its own, and tasks it starts inherit it), ``trace_id`` (the current OpenTelemetry span's,
when tracing is on), and a traceback whole in ``exc_info``. With JSON on, uvicorn's own lines
(start-up, errors, access) go through the same handler, so a container's log is one format.
Never a secret: nothing here logs settings, headers or bodies.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextvars import ContextVar
from types import MappingProxyType

from pythonjsonlogger.json import JsonFormatter

from agent_actors.settings import Settings
from agent_actors.tracing import current_trace_id

PLAIN = "%(asctime)s %(levelname)s %(name)s %(message)s"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
_EMPTY: Mapping[str, object] = MappingProxyType({})
_CONTEXT: ContextVar[Mapping[str, object]] = ContextVar("agent_actors_log", default=_EMPTY)


def bind(**fields: object) -> None:
    """Add ``fields`` to every line logged from here on in this request or actor call."""
    _CONTEXT.set({**_CONTEXT.get(), **fields})


class ContextFilter(logging.Filter):
    """Puts the bound fields and the trace id on each record (a handler filter: it sees the
    records of every logger, uvicorn's and the SDK's included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn's coloured copy of the message: noise in a JSON line.
        record.__dict__.pop("color_message", None)
        for name, value in _CONTEXT.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        trace_id = current_trace_id()
        if trace_id is not None:
            record.trace_id = trace_id
        return True


class AccessFields(logging.Filter):
    """uvicorn's access line as fields too: its args are (client, method, path, version,
    status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            _client, record.method, record.path, _version, record.status = args
        return True


def json_formatter() -> logging.Formatter:
    return JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        json_ensure_ascii=False,
    )


def configure(settings: Settings) -> None:
    root = logging.getLogger()
    if getattr(root, "_agent_actors", False):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(json_formatter() if settings.log_json else logging.Formatter(PLAIN))
    handler.addFilter(ContextFilter())
    root.addHandler(handler)
    root.setLevel(settings.log_level)
    if settings.log_json:
        _adopt_uvicorn()
    root._agent_actors = True  # type: ignore[attr-defined]


def _adopt_uvicorn() -> None:
    """uvicorn configures its loggers (own handlers, no propagation) before it builds the app:
    send their lines to the root handler instead. A logger uvicorn switched off (no handlers,
    no propagation: ``--no-access-log``) stays off: uvicorn decides whether to write access
    lines by whether its logger has a handler, root's included once it propagates."""
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        if not logger.handlers and not logger.propagate:
            continue
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("uvicorn.access").addFilter(AccessFields())
