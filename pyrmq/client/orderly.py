"""Orderly consumption (Java ConsumeMessageOrderlyService): a queue's messages one at a time
in queue order, failures retried in place; and the broker-side queue locks that make one
consumer of the group the only one consuming a queue (LOCK_BATCH_MQ / UNLOCK_BATCH_MQ)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable

from pyrmq.client.base import ClientBase
from pyrmq.client.message import ConsumeStatus, MessageQueue
from pyrmq.protocol.admin import LockBatchRequestBody, LockBatchResponseBody
from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import request
from pyrmq.protocol.message import MessageExt
from pyrmq.remoting import RemotingError

log = logging.getLogger("pyrmq.client")

RETRY_PAUSE = 1.0  # seconds the queue is suspended before a failed message is retried


async def lock_batch(client: ClientBase, mqs: Iterable[MessageQueue], *, lock: bool = True
                     ) -> set[MessageQueue]:
    """LOCK_BATCH_MQ (or UNLOCK_BATCH_MQ) per broker for ``client``'s group; returns the
    queues the brokers say are now locked by this client (empty when unlocking)."""
    code = RequestCode.LOCK_BATCH_MQ if lock else RequestCode.UNLOCK_BATCH_MQ
    by_broker: dict[str, list[MessageQueue]] = {}
    for mq in mqs:
        by_broker.setdefault(mq.broker_name, []).append(mq)
    locked: set[MessageQueue] = set()
    for broker, queues in by_broker.items():
        body = LockBatchRequestBody(client.group, client.client_id, queues).to_json()
        try:
            r = await client.remoting.invoke(client.broker_addr(broker),
                                             request(code, None, body), 3)
        except RemotingError as e:
            log.debug("%s on %s failed: %s", code, broker, e)
            continue
        if lock and r.code == ResponseCode.SUCCESS:
            locked.update(LockBatchResponseBody.from_json(r.body).lock_ok_mq_set)
    return locked


async def consume_orderly(mq: MessageQueue, msgs: list[MessageExt],
                          done: Callable[[list[MessageExt]], None],
                          call: Callable[[list[MessageExt]], Awaitable[ConsumeStatus]],
                          send_back: Callable[[MessageQueue, MessageExt], Awaitable[None]],
                          max_reconsume_times: int, batch: int = 1) -> None:
    """Hand ``msgs`` to ``call`` ``batch`` at a time, in queue order; a failure is retried in
    place after a pause (the queue is suspended), up to ``max_reconsume_times``, then the
    batch is sent back (retry / DLQ). ``done(batch)`` follows each batch (commits past it)."""
    for i in range(0, len(msgs), batch):
        part = msgs[i:i + batch]
        for attempt in range(max_reconsume_times + 1):
            status = await call(part)
            if status is ConsumeStatus.CONSUME_SUCCESS:
                break
            if attempt == max_reconsume_times:
                for m in part:
                    await send_back(mq, m)
                break
            await asyncio.sleep(RETRY_PAUSE)
        done(part)
