"""Busy polling end to end: a Broker started with busyPollMicros and clients made with
busy_poll_us deliver every message as without it, and an idle broker process does not keep
polling (its CPU over a quiet second stays far below a spinning core's). No speed is asserted."""

from __future__ import annotations

import asyncio
import time

from rmqtest.cluster import running_cluster
from rmqtest.procs import cpu_us

from pyrmq.client import Message, Producer, PullConsumer, SendStatus
from pyrmq.protocol.codes import ResponseCode


def test_busy_polling_broker_and_clients_deliver_and_go_quiet(tmp_path):
    with running_cluster(tmp_path, "--set", "busyPollMicros=500") as cluster:
        async def main():
            async with Producer("PG_BUSY", cluster.ns_addr, busy_poll_us=500) as p:
                for i in range(300):
                    r = await p.send(Message("BusyT", f"b-{i}".encode()))
                    assert r.status is SendStatus.SEND_OK
            pc = PullConsumer("CG_BUSY", cluster.ns_addr, busy_poll_us=500)
            got = []
            try:
                for mq in await pc.fetch_queues("BusyT"):
                    offset = 0
                    for _ in range(100):
                        code, nxt, ms = await pc.pull(mq, "*", offset)
                        assert code in (ResponseCode.SUCCESS, ResponseCode.PULL_NOT_FOUND)
                        got += ms
                        if not ms:
                            break
                        offset = nxt
            finally:
                await pc.shutdown()
            assert sorted(m.body for m in got) == sorted(f"b-{i}".encode() for i in range(300))
        asyncio.run(asyncio.wait_for(main(), 120))

        pid = cluster.broker.popen.pid
        time.sleep(0.5)  # whatever the last requests started has ended
        c0, t0 = cpu_us(pid) / 1e6, time.monotonic()
        time.sleep(2.0)
        busy = (cpu_us(pid) / 1e6 - c0) / (time.monotonic() - t0)
        assert busy < 0.5, f"the idle broker used {busy:.0%} of a CPU: still polling?"
