"""Which queues a push consumer pulls (Java RebalanceService + RebalanceImpl): every
``interval`` seconds, or at once when a broker says the group changed, refresh the routes,
heartbeat, allocate the subscribed queues over the group's live consumers and keep exactly
one pull task per owned queue (orderly consumers also hold the brokers' queue locks)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from pyrmq.client.base import ConsumerBase
from pyrmq.client.message import MessageModel, MessageQueue
from pyrmq.client.offsets import OffsetStore
from pyrmq.client.orderly import lock_batch
from pyrmq.protocol.bodies import SubscriptionData

log = logging.getLogger("pyrmq.client")

Allocate = Callable[[str, list[MessageQueue], list[str]], list[MessageQueue]]
HEARTBEAT_EVERY = 30.0
LOCK_RENEW_EVERY = 20.0  # orderly consumers renew their 60 s broker locks this often
MISSING_ROUTE_RETRY_S = 1.0  # a subscribed topic without a route yet is looked up again this soon
MISSING_ROUTE_QUICK_PASSES = 30  # ... this many times, then at the normal interval


class RebalanceService:
    """Owns ``pullers`` (queue -> pull task, started with ``pull(mq)``)."""

    def __init__(self, client: ConsumerBase, subscriptions: dict[str, SubscriptionData],
                 offset_store: OffsetStore, *, model: MessageModel, allocate: Allocate,
                 orderly: bool, interval: float,
                 pull: Callable[[MessageQueue], Coroutine[Any, Any, None]],
                 heartbeat: Callable[[], Awaitable[None]]) -> None:
        self.client = client
        self.subscriptions = subscriptions
        self.offset_store = offset_store
        self.model = model
        self.allocate = allocate
        self.orderly = orderly
        self.interval = min(interval, LOCK_RENEW_EVERY) if orderly else interval
        self.pull = pull
        self.heartbeat = heartbeat
        self.pullers: dict[MessageQueue, asyncio.Task[None]] = {}
        self.assigned: list[MessageQueue] | None = None  # fixed queues: no allocation
        self.running = False
        self._now = asyncio.Event()

    def wake(self) -> None:
        """Rebalance now (the group's consumers changed)."""
        self._now.set()

    async def run(self) -> None:
        """The loop: until ``running`` is cleared."""
        self.running = True
        last_hb = 0.0
        quick_left = MISSING_ROUTE_QUICK_PASSES
        while self.running:
            missing = False
            try:
                for topic in self.subscriptions:
                    try:
                        await self.client.route(topic)
                    except Exception as e:
                        missing = True
                        log.debug("no route for %s yet: %s", topic, e)
                if time.monotonic() - last_hb > HEARTBEAT_EVERY or not last_hb:
                    await self.heartbeat()
                    last_hb = time.monotonic()
                await self.rebalance()
            except Exception:
                log.exception("rebalance of %s failed", self.client.group)
            self._now.clear()
            # A route still missing (typically %RETRY%group, created by our first heartbeat and
            # registered with the name server just after): look again in a second, a bounded
            # number of times, so the first retry is not held back a whole interval.
            wait = self.interval
            if missing and quick_left > 0:
                quick_left -= 1
                wait = min(wait, MISSING_ROUTE_RETRY_S)
            try:
                await asyncio.wait_for(self._now.wait(), wait)
            except asyncio.TimeoutError:
                pass

    async def rebalance(self) -> None:
        """Work out the queues this client owns now and pull exactly those."""
        if self.assigned is not None:
            await self.apply(set(self.assigned))
            return
        wanted: set[MessageQueue] = set()
        for topic in self.subscriptions:
            route = self.client.routes.get(topic)
            if route is None:
                continue
            queues = route.subscribe_queues()
            if self.model is MessageModel.BROADCASTING:
                wanted.update(queues)
                continue
            ids = await self.client.consumer_ids(route)
            if self.client.client_id not in ids:
                ids.append(self.client.client_id)
            wanted.update(self.allocate(self.client.client_id, queues, ids))
        await self.apply(wanted)

    async def apply(self, wanted: set[MessageQueue]) -> None:
        """Stop pulling dropped queues (persisting their offsets), start the new ones."""
        dropped = [q for q in self.pullers if q not in wanted]
        for mq in dropped:
            task = self.pullers.pop(mq)
            task.cancel()
            await asyncio.wait([task], timeout=5)
            await self.offset_store.persist(mq)
            self.offset_store.remove(mq)
        if self.orderly:
            await lock_batch(self.client, dropped, lock=False)
            # hold a broker lock on every queue we consume; relock (renew) the ones we hold
            wanted = await lock_batch(self.client, sorted(wanted))
            for mq in [q for q in self.pullers if q not in wanted]:
                self.pullers.pop(mq).cancel()  # lost its lock: stop until it is ours again
        for mq in wanted:
            if mq not in self.pullers:
                self.start(mq)

    def start(self, mq: MessageQueue) -> None:
        """(Re)start ``mq``'s pull task, abandoning one that is running."""
        old = self.pullers.get(mq)
        if old is not None:
            old.cancel()
        self.pullers[mq] = asyncio.get_running_loop().create_task(self.pull(mq))
