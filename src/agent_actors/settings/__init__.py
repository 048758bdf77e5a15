"""The one settings object. Nothing else in the package reads ``os.environ``.

Every field can be set from the environment: top-level fields with the ``AGENT_ACTORS_``
prefix, nested ones with ``__`` (``AGENT_ACTORS_LIMITS__HISTORY_VIEW=10``). A few names that
Dapr and OpenAI users already know are read as they are and win over the prefixed ones
(``APP_API_TOKEN``, ``OPENAI_BASE_URL``, ``OPENAI_API_KEY``, ``OPENAI_MODEL``: one settings
source, ``WellKnownNames``). The service's settings only: the dev stack's (ports of Redis and
the control plane, folders, restarts) are in ``devstack/settings.py``.

Each section is a model in the module named after what it configures (``sidecar``, ``limits``,
``streams``, ``auth``, ``llm``, ``tracing``); this module puts them together and is the one to
import from.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any, ClassVar

from pydantic import Field, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from agent_actors.settings.auth import KEY_LABEL, RESERVED_LABELS, ApiKey, AuthSettings
from agent_actors.settings.limits import MESSAGE_OVERHEAD_BYTES, LimitSettings
from agent_actors.settings.llm import MIN_RECORD_BYTES, AgentSettings, LlmSettings
from agent_actors.settings.sidecar import (
    BYTES_PER_CHAR,
    BYTES_PER_HEADER_CHAR,
    ENTRY_OVERHEAD,
    IDEMPOTENCY_RECORD_OVERHEAD,
    META_ALLOWANCE,
    MIN_BODY_BYTES,
    PAYLOAD_HEADROOM,
    ActorSettings,
    DaprSettings,
)
from agent_actors.settings.streams import StreamSettings
from agent_actors.settings.tracing import TracingSettings

__all__ = [
    "BYTES_PER_CHAR",
    "ENTRY_OVERHEAD",
    "KEY_LABEL",
    "MESSAGE_OVERHEAD_BYTES",
    "MIN_BODY_BYTES",
    "MIN_RECORD_BYTES",
    "PAYLOAD_HEADROOM",
    "RESERVED_LABELS",
    "ActorSettings",
    "AgentSettings",
    "ApiKey",
    "AuthSettings",
    "DaprSettings",
    "LimitSettings",
    "LlmSettings",
    "Settings",
    "StreamSettings",
    "TracingSettings",
    "WellKnownNames",
    "get_settings",
]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="AGENT_ACTORS_",
        env_nested_delimiter="__",
        extra="ignore",
    )
    # Names users of Dapr and OpenAI already know: (section, field) each one sets.
    well_known_env: ClassVar[dict[str, tuple[str, str]]] = {
        "APP_API_TOKEN": ("auth", "app_api_token"),
        "OPENAI_BASE_URL": ("llm", "base_url"),
        "OPENAI_API_KEY": ("llm", "api_key"),
        "OPENAI_MODEL": ("llm", "model"),
    }

    log_level: str = Field("INFO", description="the app's log level")
    log_json: bool = Field(False, description="JSON log lines (for containers)")
    # Registers the no-op BenchActor for `make bench` (W0); off: exactly the three actor types.
    bench_actor: bool = Field(False, description="register the no-op BenchActor (make bench)")
    dapr: DaprSettings = DaprSettings()
    limits: LimitSettings = LimitSettings()
    actors: ActorSettings = ActorSettings()
    streams: StreamSettings = StreamSettings()
    auth: AuthSettings = AuthSettings()
    llm: LlmSettings = LlmSettings()
    agents: AgentSettings = AgentSettings()
    tracing: TracingSettings = TracingSettings()

    @model_validator(mode="after")
    def _whole_writes_fit_the_sidecar(self) -> Settings:
        """A history page, the memory window and a turn's commit cannot be split: each is
        written (a page and the window also read) whole through daprd. Refuse limits under
        which one could pass daprd's max body size when every character of its entries takes
        12 bytes. A commit writes the pages its two entries land on (``history_page_size`` + 1
        entries when they straddle two, a user message and a reply taking turns), meta and the
        idempotency log in one transaction."""
        limits = self.limits
        message = BYTES_PER_CHAR * limits.max_content_chars + ENTRY_OVERHEAD
        reply = BYTES_PER_CHAR * limits.max_reply_chars + ENTRY_OVERHEAD
        entry = max(message, reply)
        budget = self.dapr.max_body_bytes - PAYLOAD_HEADROOM
        for name in ("history_page_size", "memory_window"):
            count = getattr(limits, name)
            if count * entry > budget:
                raise ValueError(
                    f"limits.{name} ({count}) entries of up to {entry} bytes each (12 per "
                    f"character of max_content_chars/max_reply_chars) could pass "
                    f"dapr.max_body_bytes ({self.dapr.max_body_bytes}): lower the one or "
                    "raise the other (with daprd's --max-body-size)"
                )
        written = limits.history_page_size + 1
        commit = (written + 1) // 2 * entry + written // 2 * min(message, reply)
        commit += limits.idempotency_keys * (
            BYTES_PER_HEADER_CHAR * limits.max_idempotency_key_chars + IDEMPOTENCY_RECORD_OVERHEAD
        )
        commit += META_ALLOWANCE
        if commit > budget:
            raise ValueError(
                f"a turn's commit (limits.history_page_size + 1 = {written} entries when its "
                f"two straddle pages, limits.idempotency_keys ({limits.idempotency_keys}) keys "
                f"of up to {limits.max_idempotency_key_chars} characters, meta) could take "
                f"{commit} bytes, past dapr.max_body_bytes ({self.dapr.max_body_bytes}): lower "
                "those limits or raise it (with daprd's --max-body-size)"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Above the prefixed names, so users of Dapr and OpenAI configure the service the way
        # they configure everything else; below what the code passes in.
        well_known = WellKnownNames(settings_cls)
        return init_settings, well_known, env_settings, dotenv_settings, file_secret_settings


class WellKnownNames(PydanticBaseSettingsSource):
    """``Settings.well_known_env`` read from the environment into their sections (merged with
    the prefixed names of the same section). An empty value means unset: an empty
    ``OPENAI_API_KEY`` (a Secret without the key, say) is not "use OpenAI with an empty key"."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads the names itself

    def __call__(self) -> dict[str, Any]:
        names: dict[str, tuple[str, str]] = getattr(self.settings_cls, "well_known_env", {})
        values: dict[str, dict[str, str]] = {}
        for env, (section, field) in names.items():
            if value := os.environ.get(env):
                values.setdefault(section, {})[field] = value
        return values


@lru_cache
def get_settings() -> Settings:
    return Settings()
