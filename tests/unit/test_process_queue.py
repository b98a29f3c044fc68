"""The push consumer's process queue and what sits on it, without sockets: the committed-offset
rule (smallest offset still pending), flow control, batch listeners (RECONSUME_LATER sends the
whole batch back), the non-blocking inline listener, orderly batches."""

from __future__ import annotations

import asyncio
import logging

import pytest

from pyrmq.client import ConsumeStatus, MessageQueue, PushConsumer
from pyrmq.client.process_queue import ProcessQueue
from pyrmq.protocol.codes import ResponseCode
from pyrmq.protocol.message import MessageExt

ADDR = "127.0.0.1:1"
MQ = MessageQueue("T", "b", 0)


def msg(off: int, body: bytes = b"x") -> MessageExt:
    return MessageExt("T", 0, 0, off, off * 100, 0, 1, ("127.0.0.1", 1), 2,
                      ("127.0.0.1", 10911), 0, 0, body, 0, {"UNIQ_KEY": f"U{off}"}, 100)


def test_commit_offset_is_the_smallest_pending_offset():
    pq = ProcessQueue()
    pq.put([msg(i) for i in range(10, 15)], 17)  # 15, 16 were filtered out by the broker
    assert len(pq) == 5 and pq.commit_offset() == 10
    assert pq.remove([msg(12), msg(13)]) == 10   # finished out of order: 10 still pending
    assert pq.remove([msg(10)]) == 11
    assert pq.remove([msg(11)]) == 14
    assert pq.remove([msg(11)]) == 14            # removing twice changes nothing
    assert pq.remove([msg(14)]) == 17            # empty: the pull's next begin offset
    assert len(pq) == 0 and pq.bytes == 0
    assert pq.advance(20) == 20                  # a pull with nothing to consume
    pq.put([msg(20)], 21)
    assert pq.advance(25) == 20                  # ... but 20 is still pending


def test_over_thresholds_and_wait_room():
    async def main():
        pq = ProcessQueue()
        pq.put([msg(i, b"y" * 10) for i in range(5)], 5)
        assert pq.over(4, 1 << 20) and pq.over(100, 49) and not pq.over(5, 50)
        assert not await pq.wait_room(4, 1 << 20, 0.05)  # nothing consumed: times out
        waiter = asyncio.ensure_future(pq.wait_room(4, 1 << 20, 5.0))
        await asyncio.sleep(0)
        assert not waiter.done()
        pq.remove([msg(0)])
        assert await asyncio.wait_for(waiter, 1.0)
    asyncio.run(main())


def _consumer(**kw) -> PushConsumer:
    c = PushConsumer("CG", ADDR, rebalance_interval=3600, **kw)
    c.subscribe("T", "*")
    c._running = True
    return c


def test_async_listener_never_commits_past_an_unconsumed_message():
    async def main():
        c = _consumer(concurrency=8)
        gate = asyncio.Event()

        async def on(m: MessageExt) -> ConsumeStatus:
            if m.queue_offset == 1:
                await gate.wait()  # the second message is slow; later ones finish first
            return ConsumeStatus.CONSUME_SUCCESS
        c.listener = on
        c._inline = False
        pq = ProcessQueue()
        batch = [msg(i) for i in range(5)]
        pq.put(batch, 5)
        await c._dispatch(MQ, pq, batch)
        for _ in range(20):
            await asyncio.sleep(0)
        assert c.offsets[MQ] == 1 and len(pq) == 1
        gate.set()
        await asyncio.wait(list(c._inflight), timeout=2)
        assert c.offsets[MQ] == 5 and len(pq) == 0
    asyncio.run(main())


def test_batch_listener_reconsume_later_sends_the_whole_batch_back():
    async def main():
        c = _consumer(consume_batch_max_size=3, nonblocking_listener=True)
        seen: list[list[int]] = []

        def on(msgs: list[MessageExt]) -> ConsumeStatus:
            seen.append([m.queue_offset for m in msgs])
            return ConsumeStatus.RECONSUME_LATER if msgs[0].queue_offset == 3 \
                else ConsumeStatus.CONSUME_SUCCESS
        c.listener = on
        c._inline = True
        sent_back: list[int] = []

        async def send_back(mq: MessageQueue, m: MessageExt) -> None:
            sent_back.append(m.queue_offset)
        c._send_back = send_back  # type: ignore[method-assign]
        pq = ProcessQueue()
        batch = [msg(i) for i in range(8)]
        pq.put(batch, 8)
        await c._dispatch(MQ, pq, batch)
        assert seen == [[0, 1, 2], [3, 4, 5], [6, 7]]  # called inline, one call per batch
        assert c.offsets[MQ] == 3  # the failed batch is not committed before it is back
        await asyncio.wait(list(c._inflight), timeout=2)
        assert sent_back == [3, 4, 5]
        assert c.offsets[MQ] == 8
    asyncio.run(main())


def test_sync_listener_exception_is_reconsume_later_of_the_batch(caplog):
    async def main():
        c = _consumer(consume_batch_max_size=2, nonblocking_listener=True)

        def on(msgs: list[MessageExt]) -> ConsumeStatus:
            raise RuntimeError("boom")
        c.listener = on
        c._inline = True
        sent: list[int] = []

        async def send_back(mq: MessageQueue, m: MessageExt) -> None:
            sent.append(m.queue_offset)
        c._send_back = send_back  # type: ignore[method-assign]
        pq = ProcessQueue()
        pq.put([msg(0), msg(1)], 2)
        with caplog.at_level(logging.ERROR, "pyrmq.client"):
            await c._dispatch(MQ, pq, [msg(0), msg(1)])
            await asyncio.wait(list(c._inflight), timeout=2)
        assert sent == [0, 1] and c.offsets[MQ] == 2 and "listener failed" in caplog.text
    asyncio.run(main())


def test_orderly_batches_in_order_and_commit_after_each():
    async def main():
        c = _consumer(orderly=True, consume_batch_max_size=2)
        seen: list[list[int]] = []
        commits: list[int] = []

        async def on(msgs: list[MessageExt]) -> ConsumeStatus:
            seen.append([m.queue_offset for m in msgs])
            commits.append(c.offsets.get(MQ, -1))
            return ConsumeStatus.CONSUME_SUCCESS
        c.listener = on
        pq = ProcessQueue()
        batch = [msg(i) for i in range(5)]
        pq.put(batch, 5)
        await c._dispatch(MQ, pq, batch)
        assert seen == [[0, 1], [2, 3], [4]] and commits == [-1, 2, 4]
        assert c.offsets[MQ] == 5
    asyncio.run(main())


def test_flow_control_pauses_pulling_until_the_listener_catches_up(caplog):
    async def main():
        c = _consumer(pull_threshold_for_queue=40, concurrency=4)
        gate = asyncio.Event()
        pulls: list[int] = []

        async def pull_once(mq, sub, offset, max_nums, **kw):
            pulls.append(offset)
            if offset >= 200:
                await asyncio.sleep(3600)  # caught up: a held long poll
            return ResponseCode.SUCCESS, offset + 10, [msg(offset + i) for i in range(10)]
        c.pull_once = pull_once  # type: ignore[method-assign]

        async def on(m: MessageExt) -> ConsumeStatus:
            await gate.wait()
            return ConsumeStatus.CONSUME_SUCCESS
        c.listener = on
        c.offsets[MQ] = 0
        task = asyncio.ensure_future(c._pull_loop(MQ))
        with caplog.at_level(logging.WARNING, "pyrmq.client"):
            await asyncio.sleep(0.2)
        # 40 cached is not over; the 5th batch makes 50 > 40: no more pulls
        assert pulls == [0, 10, 20, 30, 40] and c.flow_controls >= 1
        assert "flow control" in caplog.text
        assert c.offsets[MQ] == 0  # nothing consumed yet: nothing committed
        gate.set()
        for _ in range(100):
            await asyncio.sleep(0.01)
            if c.offsets[MQ] == 200:
                break
        assert c.offsets[MQ] == 200 and pulls[-1] == 200
        task.cancel()
        await asyncio.wait([task], timeout=2)
    asyncio.run(main())


def test_a_restarted_puller_drops_the_old_process_queue():
    async def main():
        c = _consumer()
        gate = asyncio.Event()

        async def on(m: MessageExt) -> ConsumeStatus:
            await gate.wait()
            return ConsumeStatus.CONSUME_SUCCESS
        c.listener = on
        pq = c.process_queues[MQ] = ProcessQueue()
        pq.put([msg(0)], 1)
        await c._dispatch(MQ, pq, [msg(0)])
        c.seek_offset(MQ, 50)  # an admin's offset reset while message 0 is being consumed
        gate.set()
        await asyncio.wait(list(c._inflight), timeout=2)
        assert pq.dropped and c.offsets[MQ] == 50  # the late finish did not commit 1
    asyncio.run(main())


def test_bad_batch_size_refused():
    with pytest.raises(ValueError):
        PushConsumer("CG", ADDR, consume_batch_max_size=0)
