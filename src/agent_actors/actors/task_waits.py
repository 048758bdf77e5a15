"""The delegation replies this process waits for (``delegation.py``)."""

from __future__ import annotations

import asyncio

from agent_actors.events.task_messages import TaskReply


class DelegationWaits:
    """The replies this process waits for, by task id (a reply for another is ignored)."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[TaskReply]] = {}

    def expect(self, task_id: str) -> asyncio.Future[TaskReply]:
        future: asyncio.Future[TaskReply] = asyncio.get_running_loop().create_future()
        self._waiting[task_id] = future
        return future

    def settle(self, reply: TaskReply) -> bool:
        future = self._waiting.get(reply.task_id)
        if future is None or future.done():
            return False
        future.set_result(reply)
        return True

    def forget(self, task_id: str) -> None:
        self._waiting.pop(task_id, None)

    def __len__(self) -> int:
        return len(self._waiting)
