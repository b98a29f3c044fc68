"""The remoting server's ``before`` hook, the client's ``before_send`` hook, and the one
rate-limited log line per refusal (unsupported code, hook refusal, handler NO_PERMISSION,
SYSTEM_BUSY), keyed so one flood cannot hide another."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import pytest

from pyrmq.protocol.codes import ResponseCode
from pyrmq.protocol.command import RemotingCommand, request
from pyrmq.remoting import RemotingClient, RemotingServer
from pyrmq.remoting.connection import Connection, bad_input_log


async def echo(conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
    return cmd.response(ResponseCode.SUCCESS, ext_fields=dict(cmd.ext_fields))


async def denied(conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
    return cmd.response(ResponseCode.NO_PERMISSION, "topic not writeable")


def refuse_odd(conn: Connection, cmd: RemotingCommand) -> RemotingCommand | None:
    if cmd.ext_fields.get("n", "0") == "1":
        return cmd.response(ResponseCode.NO_PERMISSION, "odd request refused")
    return None


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, 20))


@pytest.fixture(autouse=True)
def _fresh_log_state():  # type: ignore[no-untyped-def]
    bad_input_log._state.clear()
    yield
    bad_input_log._state.clear()


def refusal_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "pyrmq.remoting"]


def test_hooks_and_refusal_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "pyrmq.remoting")

    async def main() -> None:
        server = RemotingServer({1: echo, 2: denied}, before=refuse_odd)
        await server.start()
        client = RemotingClient(before_send=lambda c: replace(
            c, ext_fields={**c.ext_fields, "signed": "yes"}))
        addr = f"127.0.0.1:{server.port}"
        try:
            r = await client.invoke(addr, request(1, {"n": 0}))
            assert r.code == ResponseCode.SUCCESS and r.ext_fields["signed"] == "yes"
            for _ in range(5):  # a flood of one kind: one line
                r = await client.invoke(addr, request(1, {"n": 1}))
                assert (r.code, r.remark) == (ResponseCode.NO_PERMISSION, "odd request refused")
            r = await client.invoke(addr, request(77))
            assert r.code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED
            r = await client.invoke(addr, request(2))
            assert r.code == ResponseCode.NO_PERMISSION
        finally:
            await client.close()
            await server.close()

    run(main())
    lines = refusal_lines(caplog)
    hook = [m for m in lines if "odd request refused" in m]
    assert len(hook) == 1 and "request code 1 from 127.0.0.1:" in hook[0]
    assert "refused with 16" in hook[0]
    assert sum("request code 77 from 127.0.0.1:" in m and "not supported" in m
               for m in lines) == 1
    assert sum("request code 2 from" in m and "topic not writeable" in m for m in lines) == 1


def test_broken_hook_refuses_with_system_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "pyrmq.remoting")

    def broken(conn: Connection, cmd: RemotingCommand) -> RemotingCommand | None:
        raise RuntimeError("hook bug")

    async def main() -> None:
        server = RemotingServer({1: echo}, before=broken)
        await server.start()
        client = RemotingClient()
        try:
            r = await client.invoke(f"127.0.0.1:{server.port}", request(1))
            assert r.code == ResponseCode.SYSTEM_ERROR and "hook bug" in r.remark
        finally:
            await client.close()
            await server.close()

    run(main())
    assert any("hook bug" in m for m in refusal_lines(caplog))


def test_system_busy_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "pyrmq.remoting")

    async def slow(conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        await asyncio.sleep(0.3)
        return cmd.response(ResponseCode.SUCCESS)

    async def main() -> None:
        server = RemotingServer({3: slow}, max_inflight=1)
        await server.start()
        client = RemotingClient()
        try:
            rs = await asyncio.gather(*(client.invoke(f"127.0.0.1:{server.port}",
                                                      request(3), 5) for _ in range(4)))
            assert any(r.code == ResponseCode.SYSTEM_BUSY for r in rs)
        finally:
            await client.close()
            await server.close()

    run(main())
    busy = [m for m in refusal_lines(caplog) if "refused with 2:" in m]
    assert len(busy) == 1 and "request code 3 from 127.0.0.1:" in busy[0]
    assert "OVERLOAD" in busy[0]


def test_parked_requests_do_not_count_against_max_inflight(
        caplog: pytest.LogCaptureFixture) -> None:
    """A handler waiting inside ``conn.parked()`` (the broker's held pulls: one per queue of
    a consumer, 1,024 for BenchmarkTest) leaves its slot to the connection's other requests;
    the same handler waiting outside it makes the second concurrent request SYSTEM_BUSY."""
    caplog.set_level(logging.WARNING, "pyrmq.remoting")
    release = asyncio.Event()

    async def held(conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        with conn.parked():
            await release.wait()
        return cmd.response(ResponseCode.SUCCESS)

    async def unparked(conn: Connection, cmd: RemotingCommand) -> RemotingCommand:
        await release.wait()
        return cmd.response(ResponseCode.SUCCESS)

    async def main() -> None:
        server = RemotingServer({3: held, 4: unparked}, max_inflight=2)
        await server.start()
        client = RemotingClient()
        addr = f"127.0.0.1:{server.port}"
        try:
            waits = [asyncio.ensure_future(client.invoke(addr, request(3), 5))
                     for _ in range(8)]
            await asyncio.sleep(0.2)  # all eight are held now
            assert not any(w.done() for w in waits)
            release.set()
            assert [r.code for r in await asyncio.gather(*waits)] == [ResponseCode.SUCCESS] * 8
            release.clear()
            rs = asyncio.gather(*(client.invoke(addr, request(4), 5) for _ in range(3)))
            await asyncio.sleep(0.2)
            release.set()
            codes = [r.code for r in await rs]
            assert codes.count(ResponseCode.SYSTEM_BUSY) == 1, codes
        finally:
            await client.close()
            await server.close()

    run(main())
