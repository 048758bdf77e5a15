"""``Annotated`` dependency aliases the routers share."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from agent_actors.actors.client import ProxyFactory
from agent_actors.api import auth
from agent_actors.api.ids import check_user_id
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
        auth.authorize_user(settings.auth.api_keys, _authorization(request), user_id)
    return user_id


def require_admin(request: Request) -> None:
    """With API keys set, service-wide views need an admin key (bound to ``*``)."""
    settings: Settings = request.app.state.settings
    if settings.auth.api_keys:
        auth.authorize_admin(settings.auth.api_keys, _authorization(request))


def _authorization(request: Request) -> str:
    return request.headers.get("authorization", "")


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
Proxies = Annotated[ProxyFactory, Depends(get_proxies)]
UserId = Annotated[str, Depends(get_user_id)]
AdminOnly = Depends(require_admin)  # a route-level `dependencies=[AdminOnly]`
