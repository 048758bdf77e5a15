"""The stream relay on a real Redis: tokens written in one process reach a stream held in
another, in order (two hubs stand for two replicas' processes)."""

from __future__ import annotations

import asyncio

from agent_actors.streams.hub import StreamHub
from tests.integration.stack_fixture import RunningStack


async def test_tokens_cross_processes_in_order_and_stop_after_close(stack: RunningStack) -> None:
    url = f"redis://127.0.0.1:{stack.redis.connection_pool.connection_kwargs['port']}"
    holder, writer = StreamHub(), StreamHub()
    await holder.start_relay(url)
    await writer.start_relay(url)
    try:
        queue = await holder.open("s-relay")
        assert writer.listening("s-relay")  # with a relay, a listener may be elsewhere
        words = [f"w{i} " for i in range(50)]
        writer.token("s-relay", "draft")
        writer.reset("s-relay")
        for word in words:
            writer.token("s-relay", word)
        got = [await asyncio.wait_for(queue.get(), 5) for _ in range(len(words) + 2)]
        assert [(e.kind, e.text) for e in got[:2]] == [("token", "draft"), ("reset", "")]
        assert "".join(e.text for e in got[2:]) == "".join(words)
        await holder.close("s-relay")
        writer.token("s-relay", "late")
        await asyncio.sleep(0.3)
        assert queue.empty()
    finally:
        await holder.stop_relay()
        await writer.stop_relay()
