"""User ids: they become actor ids and Redis keys, so only a safe charset and length pass."""

from __future__ import annotations

import re

from agent_actors.errors import InvalidUserId

# No '|' (Dapr's key separator), no '/', no spaces: nothing that can split a Redis key or a URL.
USER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")


def check_user_id(user_id: str, max_chars: int) -> str:
    if not user_id or len(user_id) > max_chars:
        raise InvalidUserId(f"a user id has 1 to {max_chars} characters (got {len(user_id)})")
    if not USER_ID.match(user_id):
        raise InvalidUserId(
            "a user id starts with a letter or digit and contains only letters, digits and "
            "'_', '.', '@', '-'"
        )
    return user_id
