"""Chooses the responder from the settings: a model when one is configured, else offline."""

from __future__ import annotations

import logging

from openai import AsyncOpenAI

from agent_actors.llm.mcp_tools import ToolCatalog
from agent_actors.llm.model_http import model_http_client
from agent_actors.llm.offline import OfflineResponder
from agent_actors.llm.openai_client import OpenAIResponder
from agent_actors.llm.profiles import ProfileBook
from agent_actors.llm.responder import Responder
from agent_actors.settings import Settings
from agent_actors.streams.hub import StreamHub

log = logging.getLogger(__name__)
# Local servers (Ollama, vLLM, llama.cpp) ignore the key, but the SDK insists on one.
NO_KEY = "not-needed"


def build_responder(
    settings: Settings, profiles: ProfileBook | None = None, streams: StreamHub | None = None
) -> Responder:
    """``profiles``' MCP servers are connected on first use and closed by ``aclose``; a
    model's tokens go to ``streams`` (the app's hub)."""
    llm = settings.llm
    if not llm.base_url and llm.api_key is None:
        log.info("responder: offline (set OPENAI_BASE_URL or OPENAI_API_KEY for a model)")
        return OfflineResponder()
    if llm.turn_timeout_s >= settings.dapr.actor_call_timeout_s:
        log.warning(
            "llm.turn_timeout_s (%.0f s) is not under the actor call timeout (%.0f s): a slow "
            "model will surface as an actor timeout instead of a 504",
            llm.turn_timeout_s,
            settings.dapr.actor_call_timeout_s,
        )
    client = AsyncOpenAI(
        base_url=llm.base_url,
        api_key=llm.api_key.get_secret_value() if llm.api_key is not None else NO_KEY,
        timeout=llm.timeout_s,
        # Retries are ours (openai_client.py), so that each attempt is recorded and the
        # whole turn stays inside its budget.
        max_retries=0,
        # Plain HTTP without a proxy (a local server): the app's own transport, far cheaper
        # per request than httpx's (model_http.py); else the SDK's client.
        http_client=model_http_client(llm.base_url),
    )
    log.info("responder: model %s at %s", llm.model, llm.base_url or "the OpenAI API")
    servers = profiles.mcp_servers if profiles is not None else {}
    return OpenAIResponder(llm, client, tools=ToolCatalog(servers), streams=streams)
