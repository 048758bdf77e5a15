"""Who may call: the sidecar's app token, API keys and what each may do, the rate bound."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

# An API key's label: it names the key in records and logs, so it is plain text, short, and
# never one of the names records use for no key ("anonymous") or for the approval deadline.
KEY_LABEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
RESERVED_LABELS = frozenset({"anonymous", "deadline"})


class ApiKey(BaseModel):
    """What one API key may do. Configured as the users alone (``"user1,user2"``, the first
    form) or as an object: ``{"users": "user1,user2", "label": "alice", "approver": true}``."""

    users: list[str] = Field(description='the user ids the key opens ("*": any user, an admin)')
    label: str | None = Field(
        None,
        description="its name in records (a call's approved_by) and logs; unset: key: and "
        "the first 12 hex digits of the key's SHA-256 (never the key)",
    )
    approver: bool = Field(
        False,
        description="it may approve tool calls; once any key is an approver, only approver "
        "keys may",
    )

    model_config = ConfigDict(extra="forbid")

    @field_validator("users", mode="before")
    @classmethod
    def _comma_separated(cls, users: Any) -> Any:
        return [u.strip() for u in users.split(",")] if isinstance(users, str) else users

    @field_validator("label")
    @classmethod
    def _plain_label(cls, label: str | None) -> str | None:
        if label is not None and (not KEY_LABEL.fullmatch(label) or label in RESERVED_LABELS):
            raise ValueError(
                "a key's label is 1 to 64 letters, digits or ._@- (starting with a letter or "
                'a digit), and not "anonymous" or "deadline"'
            )
        return label


class AuthSettings(BaseModel):
    """Tokens: the sidecar's app token, and optional API keys for the public API."""

    app_api_token: SecretStr | None = Field(
        None,
        description="token daprd sends; /actors/* and /subscribe* require it (APP_API_TOKEN); "
        "required when API keys are set",
    )
    api_keys: dict[str, ApiKey] = Field(
        default_factory=dict,
        repr=False,
        description='JSON {"<key>": "user1,user2"} ("*": any user, an admin key), or per key '
        '{"users": "user1,user2", "label": "alice", "approver": true} (label: its name in '
        "records; approver: it may approve tool calls, and once one key is, only approvers "
        "may); set: every /{id} route needs `Authorization: Bearer <key>` bound to that id, "
        "/events/stats an admin key",
    )
    rate_per_s: float | None = Field(
        None,
        gt=0,
        description="requests per second per API key, a token bucket in each app process "
        "(unset: no bound); past it a 429 with Retry-After",
    )
    rate_burst: int = Field(20, ge=1, description="the token bucket's size (rate_per_s set)")

    @field_validator("api_keys", mode="before")
    @classmethod
    def _users_alone(cls, keys: Any) -> Any:
        # The first form, "<key>": "user1,user2", is the object form with only users.
        if isinstance(keys, dict):
            return {k: {"users": v} if isinstance(v, str) else v for k, v in keys.items()}
        return keys

    @field_validator("api_keys")
    @classmethod
    def _labels_name_one_key(cls, keys: dict[str, ApiKey]) -> dict[str, ApiKey]:
        # A record's approved_by must say which key approved: two keys, one label, cannot.
        labels = [k.label for k in keys.values() if k.label is not None]
        if len(labels) != len(set(labels)):
            raise ValueError("two API keys have the same label")
        return keys

    @property
    def approvers_set(self) -> bool:
        """Whether any key is an approver (then only approver keys approve)."""
        return any(k.approver for k in self.api_keys.values())

    @field_validator("app_api_token")
    @classmethod
    def _empty_token_is_unset(cls, token: SecretStr | None) -> SecretStr | None:
        # An empty token would admit every caller that sends none: treat it as no token.
        return token if token is not None and token.get_secret_value() else None
