"""The broker's transaction check-back scan, without sockets: it lets the event loop run
between batches, skips what is resolved without reading it, and keeps only the unresolved
backlog in memory, across a restart too."""

from __future__ import annotations

import asyncio

import pytest
from rmqtest.store import small_config

from pyrmq.broker.config import BrokerConfig
from pyrmq.broker.context import BrokerContext
from pyrmq.broker.transaction import HALF_TOPIC, TransactionService
from pyrmq.protocol.message import decode_records
from pyrmq.store import MessageStore


def _context(root: str, **cfg) -> tuple[BrokerContext, MessageStore]:
    store_cfg = small_config(storePathRootDir=root)
    store = MessageStore(root, store_cfg, store_host=("127.0.0.1", 10911))
    ctx = BrokerContext.create(BrokerConfig(storePathRootDir=root, **cfg), store_cfg, store,
                               register_soon=lambda: None)
    return ctx, store


async def _halves(svc: TransactionService, n: int) -> None:
    for i in range(n):
        await svc.put_half("TxT", 0, b"half-%d" % i, {"PGROUP": "PG"}, flag=0, sysflag=4,
                           born_timestamp=1_700_000_000_000, born_host=("127.0.0.1", 5))


def _half_at(store: MessageStore, offset: int):
    return decode_records(store.get(HALF_TOPIC, 0, offset, 1).data)[0]


@pytest.fixture
def root(tmp_path):
    return str(tmp_path / "store")


def test_check_scan_yields_to_the_loop_between_batches(root):
    ctx, store = _context(root, transactionTimeOut=0)

    async def go():
        svc = TransactionService(ctx)
        svc.start()
        try:
            await _halves(svc, 640)  # 20 batches, none resolved, no producer to ask
            ticks = 0
            stop = asyncio.Event()

            async def ticker():
                nonlocal ticks
                while not stop.is_set():
                    ticks += 1
                    await asyncio.sleep(0)

            t = asyncio.create_task(ticker())
            await asyncio.sleep(0)
            before = ticks
            assert await svc.check_once() == 0
            stop.set()
            await t
            assert ticks - before >= 10  # the loop ran other work during the scan
            assert svc.progress == 0
        finally:
            await svc.stop()

    try:
        asyncio.run(go())
    finally:
        ctx.executor.shutdown(wait=True)
        store.close()


def test_resolved_offsets_are_not_kept_and_survive_a_restart(root):
    ctx, store = _context(root)

    async def first():
        svc = TransactionService(ctx)
        svc.start()
        try:
            await _halves(svc, 200)
            for o in [*range(0, 120), 150, 160]:
                await svc._op(_half_at(store, o))
            assert svc.progress == 120
            assert svc.resolved == {150, 160}  # only what is resolved out of order
            await svc.check_once()
            assert svc.progress == 120
            await svc._op(_half_at(store, 120))
            assert svc.progress == 121
        finally:
            await svc.stop()

    async def second():
        svc = TransactionService(ctx2)
        svc.start()
        try:
            assert svc.progress == 121 and svc.resolved == {150, 160}
            assert svc.is_resolved(5) and svc.is_resolved(150)
            assert not svc.is_resolved(121) and not svc.is_resolved(199)
        finally:
            await svc.stop()

    try:
        asyncio.run(first())
    finally:
        ctx.executor.shutdown(wait=True)
        store.close()
    ctx2, store2 = _context(root)
    try:
        asyncio.run(second())
    finally:
        ctx2.executor.shutdown(wait=True)
        store2.close()
