"""The prompt: the system prompt, the memory window, the recent history, the user message."""

from __future__ import annotations

from typing import Any

from agent_actors.llm.responder import ReplyRequest

Message = dict[str, Any]


def build_messages(system_prompt: str, request: ReplyRequest) -> list[Message]:
    messages: list[Message] = [{"role": "system", "content": system_prompt}]
    if request.memory:
        # Memory is a summary window fed by events; it may lag or overlap the recent history,
        # so it goes in as context rather than as turns the model would answer again.
        remembered = "\n".join(f"{m.role}: {m.content}" for m in request.memory)
        messages.append({"role": "system", "content": f"What you remember:\n{remembered}"})
    messages.extend({"role": m.role, "content": m.content} for m in request.recent)
    messages.append({"role": "user", "content": request.message.content})
    return messages
