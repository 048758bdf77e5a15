"""The one place domain errors become HTTP answers: ``{"detail": reason, "code": code}``."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.requests import ClientDisconnect

from agent_actors.errors import AgentActorsError

log = logging.getLogger(__name__)


def _answer(status: int, code: str, detail: object) -> JSONResponse:
    return JSONResponse({"detail": detail, "code": code}, status_code=status)


def answer(exc: AgentActorsError) -> JSONResponse:
    response = _answer(exc.status, exc.code, exc.message)
    if exc.retry_after_s is not None:
        response.headers["Retry-After"] = str(exc.retry_after_s)
    return response


async def on_domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AgentActorsError)
    if exc.status >= 500:
        cause = getattr(exc, "cause", "")
        log.warning(
            "%s on %s: %s%s",
            exc.code,
            request.url.path,
            exc.message,
            f" ({cause})" if cause else "",
        )
    return answer(exc)


async def on_client_gone(request: Request, _exc: Exception) -> Response:
    # The caller hung up mid-request (daprd restarting, a client's timeout): nobody reads
    # this answer, and it is no server error.
    log.info("the client of %s left before its request was read", request.url.path)
    return Response(status_code=499)


async def on_validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    reasons = "; ".join(
        f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg')}" for err in exc.errors()
    )
    return _answer(422, "invalid_input", reasons or "invalid request")


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s", request.url.path, exc_info=exc)
    return _answer(500, "internal_error", "an unexpected error happened; it has been logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(AgentActorsError, on_domain_error)
    app.add_exception_handler(ClientDisconnect, on_client_gone)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(Exception, on_unexpected)
