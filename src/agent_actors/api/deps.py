"""``Annotated`` dependency aliases the routers share."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Path, Request

from agent_actors.actors.client import ProxyFactory
from agent_actors.api.ids import check_user_id
from agent_actors.errors import Forbidden, Unauthorized
from agent_actors.events.subscriber import Deps as Deps
from agent_actors.settings import Settings


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_proxies(request: Request) -> ProxyFactory:
    proxies: ProxyFactory = request.app.state.deps.proxies
    return proxies


def get_user_id(request: Request, id: Annotated[str, Path()]) -> str:
    settings: Settings = request.app.state.settings
    user_id = check_user_id(id, settings.limits.max_id_chars)
    if settings.auth.api_keys:
        authorize(settings.auth.api_keys, request.headers.get("authorization", ""), user_id)
    return user_id


def authorize(keys: dict[str, str], header: str, user_id: str) -> None:
    """An API key is bound to user ids: it opens only their conversations."""
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key:
        raise Unauthorized("this service needs an API key: `Authorization: Bearer <key>`")
    allowed = next((v for k, v in keys.items() if hmac.compare_digest(k, key)), None)
    if allowed is None:
        raise Unauthorized("unknown API key")
    users = {u.strip() for u in allowed.split(",")}
    if "*" not in users and user_id not in users:
        raise Forbidden(f"this API key is not bound to user {user_id!r}")


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
Proxies = Annotated[ProxyFactory, Depends(get_proxies)]
UserId = Annotated[str, Depends(get_user_id)]
