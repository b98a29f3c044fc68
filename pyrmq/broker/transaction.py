"""Transactional messages (RocketMQ 4.9): half messages parked in RMQ_SYS_TRANS_HALF_TOPIC,
END_TRANSACTION (37) committing (the message is re-put to its real topic) or rolling back, an
op record per resolution in RMQ_SYS_TRANS_OP_HALF_TOPIC, and a check-back loop that asks the
producer group (CHECK_TRANSACTION_STATE, 39) about half messages left unresolved too long."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from pyrmq import _store
from pyrmq.broker.messages import StoreRejected, put_message
from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import RemotingCommand, request
from pyrmq.protocol.headers import CheckTransactionStateRequestHeader, EndTransactionRequestHeader
from pyrmq.protocol.message import MessageConst, MessageExt, decode_records_fast
from pyrmq.remoting import Connection
from pyrmq.store import GetMessageStatus, PutResult

if TYPE_CHECKING:
    from pyrmq.broker.context import BrokerContext

log = logging.getLogger("pyrmq.broker.transaction")

HALF_TOPIC = "RMQ_SYS_TRANS_HALF_TOPIC"
OP_TOPIC = "RMQ_SYS_TRANS_OP_HALF_TOPIC"
TRAN_MASK, TRAN_COMMIT, TRAN_ROLLBACK = 0xC, 0x8, 0xC
CHECK_TIMES = "TRANSACTION_CHECK_TIMES"
CHECK_BATCH = 32  # half messages read per store.get in the check-back scan


class TransactionService:
    def __init__(self, ctx: BrokerContext) -> None:
        self.ctx = ctx
        # half-topic queue offsets committed or rolled back, at or above `progress` only: every
        # half message below `progress` is resolved, so the set stays as small as the backlog
        self.resolved: set[int] = set()
        self.checks: dict[int, int] = {}  # half queue offset -> check-backs sent
        self.progress = 0
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.ctx.topics.ensure(HALF_TOPIC, 1)
        self.ctx.topics.ensure(OP_TOPIC, 1)
        self._load_ops()
        self._task = asyncio.get_running_loop().create_task(self._check_loop())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _load_ops(self) -> None:
        store, offset = self.ctx.store, self.ctx.store.min_offset(OP_TOPIC, 0)
        for _ in range(1_000_000):
            res = store.get(OP_TOPIC, 0, offset, 32)
            if res.status is not GetMessageStatus.FOUND:
                break
            for m in decode_records_fast(res.data):
                try:
                    self.resolved.add(int(m.body))
                except ValueError:
                    pass
            offset = res.next_begin_offset
        self._advance(store.min_offset(HALF_TOPIC, 0))

    def is_resolved(self, half_offset: int) -> bool:
        """Whether the half message at this half-topic queue offset was committed or rolled
        back (or discarded after too many check-backs)."""
        return half_offset < self.progress or half_offset in self.resolved

    def _advance(self, start: int) -> None:
        """Move `progress` to `start` if it is behind (offsets below the half queue's minimum
        are gone), then over every resolved offset in a row, dropping them from `resolved`."""
        if start > self.progress:
            self.resolved = {o for o in self.resolved if o >= start}
            self.progress = start
        p = self.progress
        while p in self.resolved:
            self.resolved.discard(p)
            p += 1
        self.progress = p

    async def put_half(self, topic: str, queue_id: int, body: bytes, props: dict[str, str], *,
                       flag: int, sysflag: int, born_timestamp: int,
                       born_host: tuple[str, int]) -> PutResult:
        props[MessageConst.REAL_TOPIC] = topic
        props[MessageConst.REAL_QID] = str(queue_id)
        props.pop(MessageConst.DELAY, None)  # no delay for transactional messages
        return await put_message(self.ctx, HALF_TOPIC, 0, body, props, flag=flag,
                                 sysflag=sysflag & ~TRAN_MASK, born_timestamp=born_timestamp,
                                 born_host=born_host)

    async def end(self, conn: Connection, cmd: RemotingCommand) -> RemotingCommand | None:
        h = EndTransactionRequestHeader.from_ext(cmd.ext_fields)
        kind = h.commit_or_rollback
        if kind not in (TRAN_COMMIT, TRAN_ROLLBACK):
            return None  # TRANSACTION_NOT_TYPE: still unknown, the check-back will ask again
        phys = h.commit_log_offset
        try:
            (half,) = decode_records_fast(self.ctx.store.read_at(phys))
        except (_store.StoreError, Exception):
            return cmd.response(ResponseCode.SYSTEM_ERROR,
                                f"Find prepared transaction message failed at {phys}")
        if half.topic != HALF_TOPIC:
            return cmd.response(ResponseCode.SYSTEM_ERROR, f"{phys} is not a half message")
        group = h.producer_group
        if group and half.properties.get(MessageConst.PGROUP, group) != group:
            return cmd.response(ResponseCode.SYSTEM_ERROR,
                                "The producer group wrong: " + group)
        if self.is_resolved(half.queue_offset):
            return cmd.response(ResponseCode.SUCCESS)
        try:
            if kind == TRAN_COMMIT:
                await self._commit(half)
            await self._op(half)
        except StoreRejected as e:
            return cmd.response(e.code, str(e))
        return cmd.response(ResponseCode.SUCCESS)

    async def _commit(self, half: MessageExt) -> None:
        props = dict(half.properties)
        props.pop(MessageConst.TRAN_MSG, None)
        props.pop(CHECK_TIMES, None)
        topic = props.get(MessageConst.REAL_TOPIC, "")
        try:
            qid = int(props.get(MessageConst.REAL_QID, "0"))
        except ValueError:
            raise StoreRejected(ResponseCode.SYSTEM_ERROR, "half message has a bad REAL_QID") \
                from None
        await put_message(self.ctx, topic, qid, half.body, props, flag=half.flag,
                          sysflag=(half.sysflag & ~(TRAN_MASK | 0x30)) | TRAN_COMMIT,
                          born_timestamp=half.born_timestamp, born_host=half.born_host,
                          reconsume_times=half.reconsume_times)

    async def _op(self, half: MessageExt) -> None:
        await put_message(self.ctx, OP_TOPIC, 0, str(half.queue_offset).encode(),
                          {MessageConst.TAGS: "d"}, born_timestamp=int(time.time() * 1000),
                          born_host=("127.0.0.1", 0))
        self.resolved.add(half.queue_offset)
        self.checks.pop(half.queue_offset, None)
        if half.queue_offset == self.progress:
            self._advance(self.progress)

    async def _check_loop(self) -> None:
        while True:
            await asyncio.sleep(self.ctx.cfg.transactionCheckInterval / 1000)
            try:
                await self.check_once()
            except Exception:
                log.exception("transaction check failed")

    async def check_once(self) -> int:
        """Ask producers about unresolved half messages older than transactionTimeOut;
        returns how many were asked.

        The scan yields to the event loop after every batch of CHECK_BATCH offsets (a backlog
        of 250,000 half messages once held the broker's loop for 3 s, failing every send in
        flight), and reads only batches that hold an unresolved offset."""
        cfg, store = self.ctx.cfg, self.ctx.store
        now = int(time.time() * 1000)
        self._advance(store.min_offset(HALF_TOPIC, 0))
        offset, end = self.progress, store.max_offset(HALF_TOPIC, 0)
        asked = 0
        for _ in range(10_000):
            if offset >= end:
                break
            stop = min(offset + CHECK_BATCH, end)
            if all(self.is_resolved(o) for o in range(offset, stop)):
                offset = stop
            else:
                res = store.get(HALF_TOPIC, 0, offset, CHECK_BATCH)
                if res.status is not GetMessageStatus.FOUND:
                    break
                for m in decode_records_fast(res.data):
                    if self.is_resolved(m.queue_offset):
                        continue
                    if self.checks.get(m.queue_offset, 0) >= cfg.transactionCheckMax:
                        log.warning("half message %s checked %d times: discarded",
                                    m.offset_msg_id, cfg.transactionCheckMax)
                        await self._op(m)
                    elif now - m.store_timestamp >= cfg.transactionTimeOut and self._ask(m):
                        asked += 1
                offset = res.next_begin_offset
            self._advance(self.progress)
            await asyncio.sleep(0)
        return asked

    def _ask(self, m: MessageExt) -> bool:
        group = m.properties.get(MessageConst.PGROUP, "")
        chans = list(self.ctx.producers.groups.get(group, {}).values())
        if not chans:
            return False
        self.checks[m.queue_offset] = self.checks.get(m.queue_offset, 0) + 1
        uniq = m.uniq_key or m.offset_msg_id
        chans[self.checks[m.queue_offset] % len(chans)].conn.invoke_oneway(request(
            RequestCode.CHECK_TRANSACTION_STATE, CheckTransactionStateRequestHeader(
                m.queue_offset, m.phys_offset, uniq, uniq, m.offset_msg_id),
            self.ctx.store.read_at(m.phys_offset)))
        return True
