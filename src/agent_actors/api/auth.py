"""Who may call what: the sidecar token, the API keys, and the start-up rule joining them.

daprd sends ``dapr-api-token: $APP_API_TOKEN`` on every call to the app; the SDK does not
check it, so ``api/middleware/sidecar_token.py`` does, on the paths named here.

API keys (``AGENT_ACTORS_AUTH__API_KEYS``) are bound to user ids; a key bound to ``*`` is an
admin key: any user, and the service-wide views (``/events/stats``). A key may have a label
(its name in records) and be an approver: once any key is, only approver keys approve tool
calls, so the key that sent a turn approves it only if it is one.

Every secret is compared as bytes with ``hmac.compare_digest``: on ``str`` it raises
``TypeError`` for non-ASCII text, which a client controls (a 500 instead of a 401).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Sequence

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from agent_actors.errors import ApproverRequired, Forbidden, Misconfigured, Unauthorized
from agent_actors.settings import ApiKey, AuthSettings

SIDECAR_ONLY = ("/actors/", "/subscribe")
# What daprd calls and nobody else needs: kept out of /docs (/dapr/config stays open: daprd
# reads it before the app token is known to matter, and it names only the actor types).
SIDECAR_ROUTES = (*SIDECAR_ONLY, "/dapr/")
ANY_USER = "*"
NO_APP_TOKEN = (
    "agent-actors will not start with AGENT_ACTORS_AUTH__API_KEYS set and no APP_API_TOKEN, "
    "which would leave /actors/... and /subscribe open to anyone: set APP_API_TOKEN (the same "
    "value for daprd and the app) or unset the API keys."
)


def check_startup(auth: AuthSettings) -> None:
    """API keys without an app token guard the front door and leave the back door open."""
    if auth.api_keys and auth.app_api_token is None:
        raise Misconfigured(NO_APP_TOKEN)


def hide_sidecar_routes(app: FastAPI) -> None:
    """The Dapr extension's actor routes are the sidecar's, not the public API's."""
    for route in _api_routes(app.routes):
        if route.path.startswith(SIDECAR_ROUTES):
            route.include_in_schema = False


def _api_routes(routes: Sequence[BaseRoute]) -> Iterator[APIRoute]:
    for route in routes:
        # FastAPI keeps an included router as one entry that points at the original (the
        # extension's APIRouter), whose routes the schema is built from.
        original = getattr(route, "original_router", None)
        if original is not None:
            yield from _api_routes(original.routes)
        elif isinstance(route, APIRoute):
            yield route


def key_grant(keys: dict[str, ApiKey], header: str) -> ApiKey:
    """What the request's ``Authorization: Bearer <key>`` may do."""
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("this service needs an API key: `Authorization: Bearer <key>`")
    given = _header_bytes(key)
    grant = next((v for k, v in keys.items() if hmac.compare_digest(k.encode(), given)), None)
    if grant is None:
        raise Unauthorized("unknown API key")
    return grant


def key_users(keys: dict[str, ApiKey], header: str) -> set[str]:
    """The user ids the request's ``Authorization: Bearer <key>`` opens (``*``: all)."""
    return set(key_grant(keys, header).users)


def authorize_user(keys: dict[str, ApiKey], header: str, user_id: str) -> None:
    """An API key is bound to user ids: it opens only their conversations."""
    users = key_users(keys, header)
    if ANY_USER not in users and user_id not in users:
        raise Forbidden(f"this API key is not bound to user {user_id!r}")


def authorize_admin(keys: dict[str, ApiKey], header: str) -> None:
    """Service-wide views need a key bound to every user (``*``)."""
    if ANY_USER not in key_users(keys, header):
        raise Forbidden('this view needs an admin API key (one bound to "*")')


def authorize_approval(auth: AuthSettings, header: str) -> None:
    """Once any key is an approver, only approver keys decide on tool calls (the key that
    sent the turn included: four eyes, unless it is an approver itself)."""
    if auth.approvers_set and not key_grant(auth.api_keys, header).approver:
        raise ApproverRequired(
            "this API key may not approve tool calls: only keys marked approver in "
            "AGENT_ACTORS_AUTH__API_KEYS may"
        )


def key_identity(keys: dict[str, ApiKey], header: str) -> str:
    """Who an API key is in records (an approval's ``approved_by``): its label, or ``key:``
    and the first 12 hex digits of its SHA-256; never the key itself."""
    label = key_grant(keys, header).label
    if label is not None:
        return label
    _scheme, _, key = header.partition(" ")
    return "key:" + hashlib.sha256(_header_bytes(key)).hexdigest()[:12]


def _header_bytes(value: str) -> bytes:
    # Starlette decodes header values as latin-1, so this gives back the bytes as sent (UTF-8
    # from most clients, matching a key configured with non-ASCII text).
    try:
        return value.encode("latin-1")
    except UnicodeEncodeError:
        return value.encode()
