"""Storing a message the way the broker does for every path (send, send-back, schedule):
delay levels become SCHEDULE_TOPIC_XXXX, CLUSTER is added, WAIT stripped, store errors become
response codes, and suspended pulls of the queue are woken."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from pyrmq import _store
from pyrmq.broker.group_commit import GroupCommit
from pyrmq.broker.topics import SCHEDULE_TOPIC
from pyrmq.protocol.codes import ResponseCode
from pyrmq.protocol.message import MessageConst, encode_properties
from pyrmq.protocol.names import topic_problem
from pyrmq.store import BatchPutResult, PutResult

if TYPE_CHECKING:
    from pyrmq.broker.context import BrokerContext

T = TypeVar("T")
TRAN_MASK = 0xC
TRAN_COMMIT = 0x8


class StoreRejected(Exception):
    """A put the store refused; ``code`` is the response code to answer with."""

    def __init__(self, code: int, remark: str) -> None:
        super().__init__(remark)
        self.code = code


def store_error_code(e: Exception) -> int:
    if isinstance(e, _store.MessageTooLargeError):
        return ResponseCode.MESSAGE_ILLEGAL
    if isinstance(e, (_store.DiskFullError, _store.ReadOnlyError, _store.StoreClosedError)):
        return ResponseCode.SERVICE_NOT_AVAILABLE
    if isinstance(e, _store.FlushTimeoutError):
        return ResponseCode.FLUSH_DISK_TIMEOUT
    if isinstance(e, OSError) and e.errno == 28:
        return ResponseCode.SERVICE_NOT_AVAILABLE
    return ResponseCode.SYSTEM_ERROR


async def store_call(ctx: BrokerContext, call: Callable[[bool], T],
                     end: Callable[[T], int]) -> T:
    """Run a store write ``call(wait)`` on the loop (a memcpy); in SYNC_FLUSH it is made with
    ``wait=False`` and the request then waits for durability up to ``end(result)`` in the
    group commit, off the loop. Store errors become StoreRejected."""
    try:
        if not ctx.sync_flush:
            return call(True)
        result = call(False)
        commits = ctx.group_commit
        if commits is None:
            commits = ctx.group_commit = GroupCommit(ctx.store)
        await commits.wait(end(result))
        return result
    except Exception as e:
        rejected = store_rejection(e)
        if rejected is None:
            raise
        raise rejected from None


def put_end(r: PutResult) -> int:
    """The CommitLog offset just past a stored message."""
    return r.phys_offset + r.size


def batch_end(r: BatchPutResult) -> int:
    """The CommitLog offset just past a stored batch."""
    return r.end_offset


def store_rejection(e: Exception) -> StoreRejected | None:
    """What a store write's exception is answered with; None when it is not the store's."""
    if isinstance(e, _store.CorruptError):
        return StoreRejected(ResponseCode.MESSAGE_ILLEGAL, f"bad message: {e}")
    if isinstance(e, (_store.StoreError, OSError)):
        return StoreRejected(store_error_code(e), str(e))
    return None


def apply_delay(ctx: BrokerContext, topic: str, queue_id: int, props: dict[str, str],
                sysflag: int) -> tuple[str, int]:
    """DELAY > 0 on a NOT/COMMIT message: park it in SCHEDULE_TOPIC_XXXX (queue level-1)."""
    raw = props.get(MessageConst.DELAY)
    if not raw or (sysflag & TRAN_MASK) not in (0, TRAN_COMMIT):
        return topic, queue_id
    try:
        level = int(raw)
    except ValueError:
        return topic, queue_id
    if level <= 0:
        return topic, queue_id
    level = min(level, len(ctx.store_cfg.delay_levels_ms))
    props[MessageConst.DELAY] = str(level)
    props[MessageConst.REAL_TOPIC] = topic
    props[MessageConst.REAL_QID] = str(queue_id)
    return SCHEDULE_TOPIC, level - 1


async def put_message(ctx: BrokerContext, topic: str, queue_id: int, body: bytes,
                      props: dict[str, str], *, flag: int = 0, sysflag: int = 0,
                      born_timestamp: int, born_host: tuple[str, int],
                      reconsume_times: int = 0, delay: bool = True) -> PutResult:
    """Store one message (delay applied unless ``delay`` is false, CLUSTER added, WAIT
    stripped). Every single-message
    put passes here, so the topic is checked here too: names read back from stored properties
    (REAL_TOPIC of a half or scheduled message) never reach the store unchecked."""
    bad = topic_problem(topic)
    if bad is not None:
        raise StoreRejected(ResponseCode.SYSTEM_ERROR, bad)
    if not 0 <= queue_id < 2**31:
        raise StoreRejected(ResponseCode.SYSTEM_ERROR, f"queueId[{queue_id}] is illegal")
    if delay:
        topic, queue_id = apply_delay(ctx, topic, queue_id, props, sysflag)
    raw = stored_properties(ctx, props)

    def call(wait: bool) -> PutResult:
        return ctx.store.put(topic, queue_id, body, properties=raw, flag=flag,
                             sysflag=sysflag, born_timestamp=born_timestamp,
                             born_host=born_host, reconsume_times=reconsume_times, wait=wait)

    result = await store_call(ctx, call, put_end)
    if stored(ctx, topic, queue_id, 1, len(body)):
        await asyncio.sleep(0)  # the woken pulls answer first (see stored)
    return result


def stored_properties(ctx: BrokerContext, props: dict[str, str]) -> bytes:
    """The properties as every put path stores them: WAIT stripped, CLUSTER added."""
    props.pop(MessageConst.WAIT, None)
    props[MessageConst.CLUSTER] = ctx.cfg.brokerClusterName
    return encode_properties(props)


def stored(ctx: BrokerContext, topic: str, queue_id: int, n: int, nbytes: int) -> bool:
    """After ``n`` messages of ``nbytes`` bytes were stored: wake the queue's held pulls,
    count them. True when a held pull was woken: the caller answers its own request after
    the woken pulls (a consumer waiting for this message gets it before the producer's
    acknowledgement takes the loop's next write)."""
    woke = ctx.holds.notify(topic, queue_id)
    ctx.stats.put(topic, n, nbytes)
    return woke
