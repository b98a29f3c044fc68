"""Request handlers start inside data_received: one that never suspends answers before
data_received returns (no Task); one that suspends goes on as a Task from where it stopped,
sees what it awaited (results, exceptions, cancellation). Invoke timeouts are deadlines, expired
by one timer per connection."""

from __future__ import annotations

import asyncio

import pytest

from pyrmq.protocol.codes import ResponseCode
from pyrmq.protocol.command import RemotingCommand, request
from pyrmq.protocol.frame import FrameDecoder, encode
from pyrmq.remoting import RemotingTimeoutError
from pyrmq.remoting.connection import Connection


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.frames = FrameDecoder()
        self.out: list[RemotingCommand] = []
        self.writes = 0
        self.closing = False

    def write(self, data) -> None:
        self.writes += 1
        self.out += self.frames.feed(bytes(data))

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_extra_info(self, name, default=None):
        return default

    def set_write_buffer_limits(self, high=None, low=None) -> None:
        pass


def connected(handlers) -> tuple[Connection, FakeTransport]:
    conn = Connection(handlers)
    t = FakeTransport()
    conn.connection_made(t)
    return conn, t


def test_a_handler_that_never_suspends_answers_inside_data_received():
    async def echo(conn, cmd):
        return cmd.response(ResponseCode.SUCCESS, body=cmd.body)

    async def main():
        conn, t = connected({1: echo})
        frames = b"".join(encode(request(1, body=b"%d" % i, opaque=i)) for i in range(3))
        conn.data_received(frames)
        # answered already, in order, without a task or a loop iteration, in one write
        assert [(r.opaque, r.body) for r in t.out] == [(0, b"0"), (1, b"1"), (2, b"2")]
        assert not conn._tasks and conn._inflight == 0
        assert t.writes == 1
        conn.data_received(encode(request(1, body=b"x", opaque=9)))
        assert t.writes == 2 and t.out[-1].opaque == 9
    asyncio.run(main())


def test_answers_of_one_read_leave_together_and_a_close_sends_them_first():
    later: list[asyncio.Future] = []

    async def handler(conn, cmd):
        if cmd.body == b"later":
            fut = asyncio.get_running_loop().create_future()
            later.append(fut)
            await fut
        elif cmd.body == b"close":
            conn.close()
            return None
        return cmd.response(ResponseCode.SUCCESS, body=cmd.body)

    async def main():
        conn, t = connected({1: handler})
        conn.data_received(b"".join(encode(request(1, body=b, opaque=i)) for i, b in
                                    enumerate([b"a", b"later", b"b"])))
        assert t.writes == 1 and [r.body for r in t.out] == [b"a", b"b"]
        later[0].set_result(None)
        for _ in range(3):
            await asyncio.sleep(0)
        assert t.writes == 2 and t.out[-1].body == b"later"  # a suspended handler: on its own
        conn.data_received(b"".join(encode(request(1, body=b, opaque=i)) for i, b in
                                    enumerate([b"c", b"close", b"d"])))
        # what was answered before the close left before it; nothing after it was written
        assert [r.body for r in t.out[-1:]] == [b"c"] and t.closing
    asyncio.run(main())


def test_a_handler_that_suspends_goes_on_as_a_task():
    gate: dict[str, asyncio.Future] = {}
    seen: list[str] = []

    async def waits(conn, cmd):
        fut = gate[cmd.ext_fields["k"]] = asyncio.get_running_loop().create_future()
        await asyncio.sleep(0)  # a bare yield first
        try:
            value = await fut
        except ValueError as e:
            return cmd.response(ResponseCode.SYSTEM_ERROR, f"got {e}")
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise
        return cmd.response(ResponseCode.SUCCESS, remark=value)

    async def main():
        conn, t = connected({1: waits})
        conn.data_received(encode(request(1, {"k": "a"}, opaque=1)) +
                           encode(request(1, {"k": "b"}, opaque=2)) +
                           encode(request(1, {"k": "c"}, opaque=3)))
        assert not t.out and len(conn._tasks) == 3 and conn._inflight == 3
        await asyncio.sleep(0.01)
        gate["a"].set_result("fine")
        gate["b"].set_exception(ValueError("bad"))
        await asyncio.sleep(0.01)
        assert [(r.opaque, r.code, r.remark) for r in t.out] == [
            (1, ResponseCode.SUCCESS, "fine"), (2, ResponseCode.SYSTEM_ERROR, "got bad")]
        for task in list(conn._tasks):  # what a closing server's drain may do
            task.cancel()
        await asyncio.sleep(0.01)
        assert seen == ["cancelled"] and not conn._tasks and conn._inflight == 0
        assert len(t.out) == 2  # a cancelled handler sends nothing
    asyncio.run(main())


def test_a_handler_failing_after_a_suspension_is_answered():
    async def fails_late(conn, cmd):
        await asyncio.sleep(0)
        raise KeyError("late")

    async def main():
        conn, t = connected({1: fails_late})
        conn.data_received(encode(request(1, opaque=7)))
        await asyncio.sleep(0.01)
        assert [(r.opaque, r.code) for r in t.out] == [(7, ResponseCode.SYSTEM_ERROR)]
        assert "late" in t.out[0].remark
    asyncio.run(main())


def test_invoke_times_out_on_its_deadline_and_forgets_the_request():
    async def main():
        conn, t = connected({})
        loop = asyncio.get_running_loop()
        with pytest.raises(RemotingTimeoutError, match="no response to code 5"):
            await conn.invoke(request(5), 0.05)
        assert not conn._pending and not conn._deadlines
        # a late answer to it is ignored; an answered invoke leaves no deadline behind, and
        # the connection's one timer, once it fires with nothing due, is not re-armed
        conn.data_received(encode(t.out[0].response(ResponseCode.SUCCESS)))
        call = loop.create_task(conn.invoke(request(6), 0.05))
        await asyncio.sleep(0)
        conn.data_received(encode(t.out[1].response(ResponseCode.SUCCESS)))
        assert (await call).code == ResponseCode.SUCCESS
        assert not conn._pending and not conn._deadlines
        await asyncio.sleep(0.1)
        assert conn._sweep is None
        assert not [h for h in loop._scheduled if not h.cancelled()]  # type: ignore[attr-defined]
    asyncio.run(main())


def test_a_shorter_timeout_after_a_longer_one_expires_first_and_on_time():
    async def main():
        conn, t = connected({})
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        ends: dict[int, float] = {}

        async def call(code: int, timeout: float) -> None:
            with pytest.raises(RemotingTimeoutError, match=f"no response to code {code} "):
                await conn.invoke(request(code), timeout)
            ends[code] = loop.time() - t0
        long = loop.create_task(call(1, 0.4))
        await asyncio.sleep(0)
        short = loop.create_task(call(2, 0.05))
        mid = loop.create_task(call(3, 0.2))
        answered = loop.create_task(conn.invoke(request(4), 0.1))
        await asyncio.sleep(0)
        conn.data_received(encode(t.out[3].response(ResponseCode.SUCCESS)))
        assert (await answered).code == ResponseCode.SUCCESS
        await asyncio.wait_for(asyncio.gather(long, short, mid), 2)
        assert list(ends) == [2, 3, 1]
        for code, want in ((2, 0.05), (3, 0.2), (1, 0.4)):
            assert want - 0.005 <= ends[code] < want + 0.15, (code, ends)
        assert not conn._pending and not conn._deadlines and conn._sweep is None
    asyncio.run(main())
