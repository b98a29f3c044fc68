"""Remoting server and client over real loopback sockets, in one event loop."""

from __future__ import annotations

import asyncio

import pytest

from pyrmq.protocol.codes import ResponseCode
from pyrmq.protocol.command import RemotingCommand, request
from pyrmq.remoting import (
    RemotingClient,
    RemotingClosedError,
    RemotingConnectError,
    RemotingServer,
    RemotingTimeoutError,
)


async def echo(conn, cmd: RemotingCommand):
    return cmd.response(ResponseCode.SUCCESS, ext_fields={"echo": cmd.ext_fields.get("v", "")},
                        body=cmd.body)


async def boom(conn, cmd):
    raise ValueError("kaput")


async def slow(conn, cmd):
    await asyncio.sleep(float(cmd.ext_fields.get("s", "0.2")))
    return cmd.response(ResponseCode.SUCCESS)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_request_response_and_errors():
    async def main():
        server = RemotingServer({1: echo, 2: boom, 3: slow}, max_inflight=4)
        await server.start()
        client = RemotingClient()
        addr = f"127.0.0.1:{server.port}"
        try:
            r = await client.invoke(addr, request(1, {"v": 42}, b"body"))
            assert (r.code, r.ext_fields["echo"], r.body) == (0, "42", b"body")
            r = await client.invoke(addr, request(99))
            assert r.code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED
            assert r.remark == " request type 99 not supported"
            r = await client.invoke(addr, request(2))
            assert r.code == ResponseCode.SYSTEM_ERROR and "kaput" in r.remark
            # concurrency: slow requests do not block fast ones; past the cap -> SYSTEM_BUSY
            slow_calls = [client.invoke(addr, request(3, {"s": "0.5"}), 5) for _ in range(6)]
            fast = client.invoke(addr, request(1, {"v": "fast"}))
            results = await asyncio.gather(*slow_calls, fast)
            codes = sorted(x.code for x in results[:-1])
            assert codes.count(ResponseCode.SYSTEM_BUSY) >= 2
            assert results[-1].code in (ResponseCode.SUCCESS, ResponseCode.SYSTEM_BUSY)
            with pytest.raises(RemotingTimeoutError):
                await client.invoke(addr, request(3, {"s": "2"}), 0.2)
        finally:
            await client.close()
            await server.close()

    run(main())


def test_garbage_closes_and_pending_fail_and_reconnect():
    async def main():
        server = RemotingServer({1: echo, 3: slow})
        await server.start()
        addr = f"127.0.0.1:{server.port}"
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"\xff\xff\xff\xff\x00\x00\x00\x00")  # frame length beyond the limit
        assert await asyncio.wait_for(reader.read(), 5) == b""  # server closed it
        writer.close()
        client = RemotingClient()
        conn = await client.connection(addr)
        pending = asyncio.ensure_future(conn.invoke(request(3, {"s": "5"}), 10))
        await asyncio.sleep(0.1)
        for c in list(server.connections):
            c.close()
        with pytest.raises(RemotingClosedError):
            await pending
        r = await client.invoke(addr, request(1, {"v": "again"}))  # reconnects
        assert r.ext_fields["echo"] == "again"
        await client.close()
        await server.close()
        with pytest.raises(RemotingConnectError):
            await RemotingClient().invoke(addr, request(1), 1)

    run(main())


def test_server_can_call_the_client_back():
    async def main():
        got = asyncio.get_running_loop().create_future()

        async def on_notify(conn, cmd):
            got.set_result(cmd.ext_fields["consumerGroup"])
            return None

        async def hello(conn, cmd):
            conn.invoke_oneway(request(40, {"consumerGroup": "G1"}))
            return cmd.response(ResponseCode.SUCCESS)

        server = RemotingServer({34: hello})
        await server.start()
        client = RemotingClient({40: on_notify})
        r = await client.invoke(f"127.0.0.1:{server.port}", request(34))
        assert r.code == 0
        assert await asyncio.wait_for(got, 5) == "G1"
        await client.close()
        await server.close()

    run(main())


def test_loop_runner_falls_back_without_uvloop():
    from pyrmq.remoting import loop

    async def main():
        return type(asyncio.get_running_loop()).__module__

    mod = loop.run(main())
    assert ("uvloop" in mod) == loop.uvloop_available()
