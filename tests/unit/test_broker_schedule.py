"""The broker's delay-level delivery, without sockets: a backlog of due messages is delivered
batch after batch without a pause between batches (only yielding to the loop), in order."""

from __future__ import annotations

import asyncio

from rmqtest.store import small_config

from pyrmq.broker import schedule
from pyrmq.broker.config import BrokerConfig
from pyrmq.broker.context import BrokerContext
from pyrmq.broker.topics import SCHEDULE_TOPIC
from pyrmq.protocol.message import decode_records
from pyrmq.store import GetMessageStatus, MessageStore

N = 200


def test_a_due_backlog_is_delivered_without_pausing_between_batches(tmp_path, monkeypatch):
    root = str(tmp_path / "store")
    store_cfg = small_config(storePathRootDir=root, messageDelayLevel="1s")
    store = MessageStore(root, store_cfg, store_host=("127.0.0.1", 10911))
    ctx = BrokerContext.create(BrokerConfig(storePathRootDir=root), store_cfg, store,
                               register_soon=lambda: None)
    ctx.topics.ensure("Real", 1)
    for i in range(N):
        store.put(SCHEDULE_TOPIC, 0, b"m%d" % i, properties={
            "REAL_TOPIC": "Real", "REAL_QID": "0", "DELAY": "1"}, born_timestamp=1)
    real_sleep = asyncio.sleep
    sleeps: list[tuple[float, int]] = []  # (seconds, delivered so far)

    async def recording_sleep(seconds: float) -> None:
        sleeps.append((seconds, store.max_offset("Real", 0)))
        await real_sleep(seconds)

    monkeypatch.setattr(schedule.asyncio, "sleep", recording_sleep)

    async def go() -> None:
        svc = schedule.ScheduleService(ctx, str(tmp_path))
        svc.start()
        try:
            for _ in range(200):
                if store.max_offset("Real", 0) >= N:
                    break
                await real_sleep(0.05)
        finally:
            await svc.stop()

    try:
        asyncio.run(go())
        assert store.max_offset("Real", 0) == N
        res = store.get("Real", 0, 0, 32)
        assert res.status is GetMessageStatus.FOUND
        assert [m.body for m in decode_records(res.data)] == [b"m%d" % i for i in range(32)]
        # once delivery began, no pause until the backlog was gone
        assert not [s for s, done in sleeps if 0 < done < N and s > 0]
    finally:
        ctx.executor.shutdown(wait=True)
        store.close()
