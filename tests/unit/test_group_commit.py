"""SYNC_FLUSH acknowledgements through the group commit: a put is appended on the loop
(readable at once), its waiter is answered only once the CommitLog is durable past it, many
waiters share few msyncs, and a store error reaches every waiter of its group."""

from __future__ import annotations

import asyncio

import pytest
from rmqtest.store import small_config
from test_broker_handlers import FakeConn
from test_send_fast import _cmd

from pyrmq import _store
from pyrmq.broker import send
from pyrmq.broker.config import BrokerConfig
from pyrmq.broker.context import BrokerContext
from pyrmq.broker.group_commit import GroupCommit
from pyrmq.protocol.codes import ResponseCode
from pyrmq.store import MessageStore


@pytest.fixture
def sync_store(tmp_path):
    root = str(tmp_path / "store")
    s = MessageStore(root, small_config(storePathRootDir=root, flushDiskType="SYNC_FLUSH"))
    yield s
    if not s.closed:
        s.close()


def test_waiters_are_answered_once_durable_and_share_flushes(sync_store):
    async def main():
        gc = GroupCommit(sync_store)
        try:
            results, waits = [], []
            for i in range(200):
                r = sync_store.put("GC", i % 2, b"m%d" % i, wait=False)
                results.append(r)
                waits.append(gc.wait(r.phys_offset + r.size))
            assert sync_store.get("GC", 0, 0, 32).count == 32  # readable before durable
            await asyncio.wait_for(asyncio.gather(*waits), 30)
            st = sync_store.stats()
            assert st["flushed_phys_offset"] >= results[-1].phys_offset + results[-1].size
            assert 1 <= st["flush_count"] < 200  # grouped: far fewer msyncs than puts
        finally:
            gc.close()
    asyncio.run(main())


def test_a_store_error_reaches_every_waiter(sync_store):
    async def main():
        gc = GroupCommit(sync_store)
        r = sync_store.put("GC", 0, b"x", wait=False)
        await gc.wait(r.phys_offset + r.size)
        sync_store.close()
        waits = [gc.wait(r.phys_offset + r.size + 1) for _ in range(3)]
        for w in waits:
            with pytest.raises(_store.StoreClosedError):
                await asyncio.wait_for(w, 10)
        gc.close()
        gc.close()  # twice: a no-op
    asyncio.run(main())


def test_a_sync_flush_broker_sends_through_the_group_commit(tmp_path):
    root = str(tmp_path / "b")
    store_cfg = small_config(storePathRootDir=root, flushDiskType="SYNC_FLUSH")
    store = MessageStore(root, store_cfg)
    ctx = BrokerContext.create(BrokerConfig(storePathRootDir=root), store_cfg, store)
    ctx.topics.ensure("FastT", 4)

    async def main():
        assert send.send_fast(ctx, FakeConn(), _cmd()) is None  # SYNC_FLUSH: not the fast one
        rs = await asyncio.gather(*(send.handle_send(ctx, FakeConn(), _cmd())
                                    for _ in range(20)))
        assert all(r.code == ResponseCode.SUCCESS for r in rs), rs[0].remark
        assert ctx.group_commit is not None
        assert store.stats()["flushed_phys_offset"] == store.max_phys_offset()
    try:
        asyncio.run(main())
    finally:
        if ctx.group_commit is not None:
            ctx.group_commit.close()
        ctx.executor.shutdown(wait=True)
        store.close()
