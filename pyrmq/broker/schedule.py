"""ScheduleMessageService: delivers SCHEDULE_TOPIC_XXXX messages to their REAL_TOPIC/REAL_QID
once due; progress per level in delayOffset.json."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import TYPE_CHECKING, Any

from pyrmq.broker.messages import StoreRejected, put_message
from pyrmq.broker.persist import load_json, save_json, save_json_soon
from pyrmq.broker.topics import SCHEDULE_TOPIC
from pyrmq.protocol.message import MessageConst, decode_records_fast
from pyrmq.store import GetMessageStatus

if TYPE_CHECKING:
    from pyrmq.broker.context import BrokerContext

log = logging.getLogger("pyrmq.broker.schedule")
#: how often an empty delay level looks again without being woken (a put to it wakes it at
#: once; 18 levels polled every 100 ms cost an idle broker ~1.5 % of a CPU)
IDLE_POLL_S = 1.0


class ScheduleService:
    def __init__(self, ctx: BrokerContext, config_dir: str) -> None:
        self.ctx = ctx
        self.path = os.path.join(config_dir, "delayOffset.json")
        self.offsets: dict[int, int] = {}
        data = load_json(self.path)
        if data:
            self.offsets = {int(k): int(v) for k, v in (data.get("offsetTable") or {}).items()}
        self._tasks: list[asyncio.Task[None]] = []

    def to_json_obj(self) -> dict[str, Any]:
        return {"offsetTable": {str(k): v for k, v in sorted(self.offsets.items())}}

    def persist(self) -> None:
        save_json(self.path, self.to_json_obj())

    def persist_soon(self) -> None:
        """The periodic persist: written off the event loop."""
        save_json_soon(self.path, self.to_json_obj())

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        levels = self.ctx.store_cfg.delay_levels_ms
        self._tasks = [loop.create_task(self._level(i + 1, ms)) for i, ms in enumerate(levels)]

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.persist()

    async def _level(self, level: int, delay_ms: int) -> None:
        qid = level - 1
        store = self.ctx.store
        while True:
            offset = max(self.offsets.get(level, 0), store.min_offset(SCHEDULE_TOPIC, qid))
            res = store.get(SCHEDULE_TOPIC, qid, offset, 32)
            wait = 0.1
            if res.status is GetMessageStatus.FOUND:
                # a batch delivered in full: the next one at once (after letting the loop run),
                # as Java delivers every due entry of a round; 100 ms between batches capped a
                # due backlog at 320 messages/s per level
                wait = 0.0
                for msg in decode_records_fast(res.data):
                    due = msg.store_timestamp + delay_ms
                    now = int(time.time() * 1000)
                    if due > now and due - now <= delay_ms:  # not yet (clock sane)
                        wait = min(0.1, (due - now) / 1000)
                        break
                    if not await self._deliver(msg):
                        wait = 1.0
                        break
                    offset = msg.queue_offset + 1
                    self.offsets[level] = offset
            elif res.status in (GetMessageStatus.OFFSET_TOO_SMALL,
                                GetMessageStatus.OFFSET_OVERFLOW_BADLY):
                self.offsets[level] = res.next_begin_offset
                continue
            else:  # nothing parked at this level: woken by the next put to it (put_message
                # notifies the queue's holds), polled every IDLE_POLL_S in case
                await self.ctx.holds.wait(SCHEDULE_TOPIC, qid, IDLE_POLL_S)
                continue
            await asyncio.sleep(wait)

    async def _deliver(self, msg) -> bool:
        props = dict(msg.properties)
        topic = props.get(MessageConst.REAL_TOPIC)
        try:
            qid = int(props.get(MessageConst.REAL_QID, "0"))
        except ValueError:
            qid = 0
        if not topic:
            log.warning("scheduled message at %d has no REAL_TOPIC; skipped", msg.phys_offset)
            return True
        # Java keeps DELAY in the delivered message's properties (its stored property string is
        # built before the level is cleared); delay=False stops it being parked again.
        try:
            await put_message(self.ctx, topic, qid, msg.body, props, flag=msg.flag,
                              sysflag=msg.sysflag & ~0x30, born_timestamp=msg.born_timestamp,
                              born_host=msg.born_host, reconsume_times=msg.reconsume_times,
                              delay=False)
        except StoreRejected as e:
            log.warning("cannot deliver scheduled message to %s: %s", topic, e)
            return False
        return True
