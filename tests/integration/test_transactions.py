"""Transactional messages: commit delivers, rollback never does, unknown is resolved by the
broker's check-back to the producer group."""

from __future__ import annotations

import asyncio

import pytest
from rmqtest.cluster import running_cluster

from pyrmq.client import (
    ConsumeFrom,
    ConsumeStatus,
    LocalTransactionState,
    Message,
    PushConsumer,
    TransactionProducer,
)

S = LocalTransactionState


@pytest.fixture
def cluster(tmp_path):
    with running_cluster(tmp_path, "--set", "transactionCheckInterval=500",
                      "--set", "transactionTimeOut=500") as c:
        yield c


def test_commit_rollback_and_check_back(cluster):
    async def main():
        checked = []

        def check(msg):
            checked.append(msg.body)
            return S.COMMIT_MESSAGE if msg.body == b"unknown-commit" else S.ROLLBACK_MESSAGE

        p = TransactionProducer("TXG", cluster.ns_addr, check)
        await p.start()
        outcomes = {}
        for body, state in ((b"commit", S.COMMIT_MESSAGE), (b"rollback", S.ROLLBACK_MESSAGE),
                            (b"unknown-commit", S.UNKNOW), (b"unknown-rollback", S.UNKNOW)):
            _, outcomes[body] = await p.send_in_transaction(
                Message("Tx", body, tags="T"), lambda m, s=state: s)
        assert outcomes[b"commit"] is S.COMMIT_MESSAGE

        got, done = [], asyncio.Event()

        async def on(msg):
            got.append(msg.body)
            if len(got) >= 2:
                done.set()
            return ConsumeStatus.CONSUME_SUCCESS

        c = PushConsumer("TXC", cluster.ns_addr, consume_from=ConsumeFrom.FIRST_OFFSET,
                         rebalance_interval=1.0)
        c.subscribe("Tx")
        c.listener = on
        await c.start()
        try:
            await asyncio.wait_for(done.wait(), 20)
            await asyncio.sleep(2.5)  # a rolled-back message would have arrived by now
        finally:
            await c.shutdown()
            await p.shutdown()
        assert sorted(got) == [b"commit", b"unknown-commit"]
        assert set(checked) >= {b"unknown-commit", b"unknown-rollback"}
        assert b"commit" not in checked and b"rollback" not in checked

    asyncio.run(asyncio.wait_for(main(), 60))
