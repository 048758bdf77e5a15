"""The dev stack's one error."""

from __future__ import annotations


class StackError(Exception):
    """The local stack cannot start or keep running: the message is one sentence naming the
    cause (the CLI prints it and exits 1)."""
