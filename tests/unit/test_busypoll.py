"""Adaptive busy polling (pyrmq.remoting.busypoll): the window grows while activities come
close together and drops to nothing after a long gap; while it lasts the loop keeps running
its polling step, and it stops by itself; connections kick it on every frame read and request
sent; the Broker and the clients take it from their configuration."""

from __future__ import annotations

import asyncio

import pytest

from pyrmq.broker.config import BrokerConfig
from pyrmq.client import (
    LitePullConsumer,
    LocalTransactionState,
    Producer,
    PullConsumer,
    PushConsumer,
    TransactionProducer,
)
from pyrmq.protocol.codes import ResponseCode
from pyrmq.protocol.command import request
from pyrmq.protocol.frame import encode
from pyrmq.remoting import Connection, RemotingServer
from pyrmq.remoting.busypoll import BusyPoll


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_window_grows_with_close_activities_and_drops_after_a_long_gap():
    async def main():
        clock = Clock()
        bp = BusyPoll(200, clock=clock)
        loop = asyncio.get_running_loop()
        bp.kick(loop)  # the first activity: nothing before it to go by
        assert bp.window == 0 and not bp.polling
        widths = []
        for _ in range(4):
            clock.now += 100e-6  # within the 200 µs maximum
            bp.kick(loop)
            widths.append(round(bp.window * 1e6))
        assert widths == [50, 100, 200, 200]  # from a quarter of the maximum, doubling
        assert bp.polling
        clock.now += 0.01  # 10 ms of silence: polling would have been wasted
        bp.kick(loop)
        assert bp.window == 0
    asyncio.run(main())


def test_the_loop_keeps_polling_until_the_window_ends_then_stops():
    async def main():
        clock = Clock()
        bp = BusyPoll(200, clock=clock)
        loop = asyncio.get_running_loop()
        bp.kick(loop)
        clock.now += 50e-6
        bp.kick(loop)  # window 50 µs from now
        assert bp.polling
        for _ in range(5):
            await asyncio.sleep(0)
        steps = bp.spins
        assert steps >= 3 and bp.polling  # the clock stands still: inside the window
        clock.now += 60e-6
        for _ in range(3):
            await asyncio.sleep(0)
        assert not bp.polling
        for _ in range(3):
            await asyncio.sleep(0)
        assert bp.spins <= steps + 1  # and stays stopped without activity
    asyncio.run(main())


def test_with_a_real_clock_polling_ends_by_itself():
    async def main():
        bp = BusyPoll(2000)  # 2 ms
        loop = asyncio.get_running_loop()
        bp.kick(loop)
        bp.kick(loop)
        assert bp.polling
        await asyncio.sleep(0.05)
        assert not bp.polling and bp.spins > 0
    asyncio.run(main())


def test_a_negative_window_is_refused():
    with pytest.raises(ValueError):
        BusyPoll(-1)


class _Transport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.out: list[bytes] = []

    def write(self, data) -> None:  # type: ignore[override]
        self.out.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name, default=None):
        return default

    def set_write_buffer_limits(self, high=None, low=None) -> None:
        pass


class Counting(BusyPoll):
    def __init__(self) -> None:
        super().__init__(200)
        self.kicks = 0

    def kick(self, loop) -> None:
        self.kicks += 1
        super().kick(loop)


def test_a_connection_kicks_on_every_read_and_every_request_it_sends():
    async def main():
        busy = Counting()

        async def ok(conn, cmd):
            return cmd.response(ResponseCode.SUCCESS)
        conn = Connection({7: ok}, busy=busy)
        t = _Transport()
        conn.connection_made(t)
        conn.data_received(encode(request(7, opaque=1)))
        assert busy.kicks == 1 and len(t.out) == 1
        task = asyncio.ensure_future(conn.invoke(request(8), 1.0))
        await asyncio.sleep(0)
        assert busy.kicks == 2  # the request went out: its answer is due soon
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert Connection({}).busy is None  # off unless asked for
    asyncio.run(main())


def test_server_clients_and_broker_config_take_the_setting():
    async def main():
        server = RemotingServer({}, busy_poll_us=150)
        assert server.busy is not None and server.busy.max == pytest.approx(150e-6)
        assert server._make().busy is server.busy  # one window for the accepted connections
        assert RemotingServer({}).busy is None
        for client in (Producer("PG", "127.0.0.1:9876", busy_poll_us=80),
                       PushConsumer("CG", "127.0.0.1:9876", busy_poll_us=80),
                       PullConsumer("CG", "127.0.0.1:9876", busy_poll_us=80),
                       LitePullConsumer("CG", "127.0.0.1:9876", busy_poll_us=80),
                       TransactionProducer("PG", "127.0.0.1:9876",
                                           lambda m: LocalTransactionState.COMMIT_MESSAGE,
                                           busy_poll_us=80)):
            assert client.remoting.busy is not None
            assert client.remoting.busy.max == pytest.approx(80e-6)
        assert Producer("PG", "127.0.0.1:9876").remoting.busy is None
    asyncio.run(main())
    assert BrokerConfig.from_properties({"busyPollMicros": "200"}).busyPollMicros == 200
    assert BrokerConfig().busyPollMicros == 0
    with pytest.raises(ValueError, match="busyPollMicros"):
        BrokerConfig.from_properties({"busyPollMicros": "1000000"})
