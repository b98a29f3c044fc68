"""LitePullConsumer (Java DefaultLitePullConsumer): the push consumer's pulling and offsets,
with messages buffered for ``poll()`` instead of handed to a listener."""

from __future__ import annotations

import asyncio
from typing import Any

from pyrmq.client.message import ConsumeStatus, MessageQueue
from pyrmq.client.process_queue import ProcessQueue
from pyrmq.client.push_consumer import PushConsumer, restore_retry_topic
from pyrmq.protocol.bodies import parse_subscription
from pyrmq.protocol.message import MessageExt


class LitePullConsumer(PushConsumer):
    """``subscribe`` (queues by rebalance) or ``assign`` (fixed queues), then ``poll()``
    batches; offsets of polled messages are committed automatically (every 5 s and at
    shutdown). Pulling runs ahead by at most ``buffer`` messages."""

    def __init__(self, group: str, namesrv: str | list[str], *, buffer: int = 1024,
                 **kw: Any) -> None:
        super().__init__(group, namesrv, **kw)
        self._buffer: asyncio.Queue[MessageExt] = asyncio.Queue(buffer)
        self.listener = self._enqueue

    async def _enqueue(self, msg: MessageExt) -> ConsumeStatus:
        await self._buffer.put(msg)  # back pressure: pulling waits for poll()
        return ConsumeStatus.CONSUME_SUCCESS

    async def _dispatch(self, mq: MessageQueue, pq: ProcessQueue, msgs: list[MessageExt]
                        ) -> None:
        for m in msgs:  # keep queue order in the buffer; back pressure: pulling waits
            await self._enqueue(restore_retry_topic(m))
        self._done(mq, pq, msgs)

    def assign(self, queues: list[MessageQueue]) -> None:
        """Consume exactly ``queues`` (no rebalance)."""
        self.rebalancer.assigned = list(queues)
        for q in queues:
            self.subscriptions.setdefault(q.topic, parse_subscription(q.topic, "*"))

    async def start(self) -> None:
        for mq in self.rebalancer.assigned or []:
            if mq.topic not in self.routes:
                await self.route(mq.topic)
        await super().start()

    def seek(self, mq: MessageQueue, offset: int) -> None:
        """Continue ``mq`` from ``offset`` (takes effect at its next pull; messages of ``mq``
        already buffered are still returned by ``poll``)."""
        self.seek_offset(mq, offset)

    async def poll(self, timeout: float = 5.0, max_messages: int = 32) -> list[MessageExt]:
        """Up to ``max_messages`` messages, waiting at most ``timeout`` s for the first."""
        try:
            first = await asyncio.wait_for(self._buffer.get(), timeout)
        except asyncio.TimeoutError:
            return []
        out = [first]
        while len(out) < max_messages and not self._buffer.empty():
            out.append(self._buffer.get_nowait())
        return out
