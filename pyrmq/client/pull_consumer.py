"""PullConsumer (Java DefaultMQPullConsumer): pull from the queues and offsets you choose."""

from __future__ import annotations

from pyrmq.client.base import ConsumerBase
from pyrmq.client.message import MessageQueue
from pyrmq.protocol.bodies import parse_subscription
from pyrmq.protocol.message import MessageExt


class PullConsumer(ConsumerBase):
    """Pull from queues and offsets you choose; nothing is committed for you."""

    def __init__(self, group: str, namesrv: str | list[str], instance: str = "DEFAULT", *,
                 busy_poll_us: float = 0) -> None:
        super().__init__(group, namesrv, instance, busy_poll_us=busy_poll_us)

    async def fetch_queues(self, topic: str) -> list[MessageQueue]:
        """The topic's readable queues."""
        return (await self.route(topic)).subscribe_queues()

    async def pull(self, mq: MessageQueue, expression: str, offset: int, max_nums: int = 32
                   ) -> tuple[int, int, list[MessageExt]]:
        """(response code, next offset, messages matching ``expression``) from ``offset``."""
        if mq.topic not in self.routes:
            await self.route(mq.topic)
        return await self.pull_once(mq, parse_subscription(mq.topic, expression), offset,
                                    max_nums)
