"""The one place domain errors become HTTP answers: ``{"detail": reason, "code": code}``."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from agent_actors.api.schemas import ErrorOut
from agent_actors.errors import AgentActorsError

log = logging.getLogger(__name__)

# What each status means in this API; every route declares the ones it can answer, with the
# one error body, so /docs shows them (and not FastAPI's own validation-error shape).
ERROR_STATUS = {
    401: "no known API key (only when API keys are set): unauthorized",
    403: "the API key is not bound to this user id, or is not an admin key: forbidden; an "
    "approval with a key that is not an approver (once one is set): approver_required",
    409: "the request conflicts with the committed history, the conversation has "
    "AGENT_ACTORS_LIMITS__MAX_TURNS turns (turn_limit), the turn names the default agent "
    "in a conversation from before threads bound to another (agent_conflict), a long turn "
    "of the conversation is not over "
    "(turn_in_progress), the turn awaits no approval (not_awaiting_approval), or an approval "
    "names another call than the one waiting, or differs from the decision taken on its call "
    "(approval_stale)",
    404: "no such turn in this conversation: turn_not_found; no such dead-lettered task of "
    "this session: task_not_found",
    413: "content over the size limit: content_too_large; a body over "
    "AGENT_ACTORS_LIMITS__MAX_BODY_BYTES: body_too_large",
    422: "invalid input: invalid_user_id, invalid_input, idempotency_conflict, unknown_agent",
    429: "the API key sent more than AGENT_ACTORS_AUTH__RATE_PER_S requests per second: "
    "rate_limited (Retry-After)",
    500: "an unexpected error (logged): internal_error",
    502: "the model failed or its reply is unusable: responder_error, reply_too_large",
    503: "the actor runtime, state store or model is unavailable (Retry-After)",
    504: "the model did not answer in time: responder_timeout",
}
# What any route of a user (``/{id}``) can answer.
USER_ROUTE = (401, 403, 422, 429, 503)


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, each with the ``{detail, code}`` body."""
    return {s: {"model": ErrorOut, "description": ERROR_STATUS[s]} for s in statuses}


def error_body(exc: AgentActorsError) -> bytes:
    """The error's JSON body, for a layer that answers below FastAPI (plain ASGI)."""
    return json.dumps({"detail": exc.message, "code": exc.code}).encode()


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


# Starlette's and FastAPI's own refusals, in the same shape as ours. FastAPI answers 400 to a
# body it cannot parse for another reason than bad JSON (nested too deep for json.loads, an
# unreadable encoding): to a client that is invalid input like any other, a 422.
HTTP_CODES = {
    400: (422, "invalid_input"),
    404: (404, "not_found"),
    405: (405, "method_not_allowed"),
    413: (413, "body_too_large"),
}


async def on_http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status, code = HTTP_CODES.get(exc.status_code, (exc.status_code, "http_error"))
    if status == 422 and exc.status_code == 400:
        detail = f"the body could not be parsed as JSON ({exc.detail})"
    else:
        detail = str(exc.detail)
    response = _answer(status, code, detail)
    response.headers.update(exc.headers or {})
    return response


async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s", request.url.path, exc_info=exc)
    return _answer(500, "internal_error", "an unexpected error happened; it has been logged")


def install(app: FastAPI) -> None:
    app.add_exception_handler(AgentActorsError, on_domain_error)
    app.add_exception_handler(ClientDisconnect, on_client_gone)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
