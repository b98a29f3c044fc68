"""PULL_MESSAGE as the connection's fast handler (``pull.pull_fast``): a pull that finds messages
is answered inside ``data_received``; one that must wait is PARKED -- a callback in the broker's
PullHold, no Task, not counted against the connection's requests in flight -- and answered
through ``Connection.reply`` when a put wakes it, its time runs out or the broker closes. A
woken pull whose filter refuses what arrived waits on."""

from __future__ import annotations

import asyncio
import functools

import pytest
from rmqtest.store import small_config
from test_remoting_inline import FakeTransport

from pyrmq.broker import pull, send
from pyrmq.broker.config import BrokerConfig
from pyrmq.broker.context import BrokerContext
from pyrmq.protocol import headers as H
from pyrmq.protocol.codes import PullSysFlag, RequestCode, ResponseCode
from pyrmq.protocol.command import request
from pyrmq.protocol.frame import encode
from pyrmq.protocol.message import decode_records, encode_properties
from pyrmq.remoting import PARKED
from pyrmq.remoting.connection import Connection
from pyrmq.store import MessageStore


@pytest.fixture
def ctx(tmp_path):
    root = str(tmp_path / "store")
    store_cfg = small_config(storePathRootDir=root)
    store = MessageStore(root, store_cfg, store_host=("127.0.0.1", 10911))
    c = BrokerContext.create(BrokerConfig(storePathRootDir=root), store_cfg, store)
    c.topics.ensure("PullT", 2)
    yield c
    c.executor.shutdown(wait=True)
    store.close()


def _pull(offset: int, opaque: int, *, tags: str = "*", suspend_ms: int = 20000):
    flags = PullSysFlag.SUBSCRIPTION | PullSysFlag.SUSPEND | PullSysFlag.COMMIT_OFFSET
    return encode(request(RequestCode.PULL_MESSAGE, H.PullMessageRequestHeader(
        "CG", "PullT", 0, offset, 32, int(flags), offset, suspend_ms, 0, tags, "TAG"),
        opaque=opaque))


def _send(ctx, tag: str, body: bytes) -> None:
    hdr = H.SendMessageRequestHeader(
        "PG", "PullT", "TBW102", 2, 0, 0, 1_700_000_000_000, 0,
        encode_properties({"TAGS": tag, "UNIQ_KEY": body.hex()}).decode(), 0, False, False)
    r = send.send_fast(ctx, _conn(ctx)[0], request(RequestCode.SEND_MESSAGE_V2,
                                                   hdr.to_ext_v2(), body))
    assert r is not None


def _conn(ctx, max_inflight: int = 256) -> tuple[Connection, FakeTransport]:
    conn = Connection({}, fast={RequestCode.PULL_MESSAGE: functools.partial(pull.pull_fast, ctx)},
                      max_inflight=max_inflight)
    t = FakeTransport()
    conn.connection_made(t)
    return conn, t


def test_found_now_is_answered_inside_data_received(ctx):
    async def main():
        _send(ctx, "A", b"m0")
        conn, t = _conn(ctx)
        conn.data_received(_pull(0, 1))
        (r,) = t.out
        assert r.code == ResponseCode.SUCCESS and r.opaque == 1 and len(ctx.holds) == 0
        assert [m.body for m in decode_records(r.body)] == [b"m0"]
        assert ctx.offsets.query("CG", "PullT", 0) == 0  # committed by the pull's flag
    asyncio.run(main())


def test_a_held_pull_is_parked_and_answered_by_the_next_put(ctx):
    async def main():
        conn, t = _conn(ctx, max_inflight=1)
        conn.data_received(_pull(0, 1) + _pull(0, 2))  # two held on one connection
        assert t.out == [] and len(ctx.holds) == 2 and not conn._tasks
        assert conn._inflight == 0  # parked pulls do not count against max_inflight
        _send(ctx, "A", b"m0")
        _send(ctx, "A", b"m1")
        assert t.out == []  # answered from the loop, after what is already due
        await asyncio.sleep(0)
        assert sorted(r.opaque for r in t.out) == [1, 2] and len(ctx.holds) == 0
        for r in t.out:  # both sends of that read in one answer each
            assert r.code == ResponseCode.SUCCESS
            assert [m.body for m in decode_records(r.body)] == [b"m0", b"m1"]
            assert H.PullMessageResponseHeader.from_ext(r.ext_fields).next_begin_offset == 2
    asyncio.run(main())


def test_a_held_pull_times_out_not_found_and_leaves_nothing_held(ctx):
    async def main():
        conn, t = _conn(ctx)
        conn.data_received(_pull(0, 5, suspend_ms=30))
        assert len(ctx.holds) == 1
        await asyncio.sleep(0.1)
        (r,) = t.out
        assert r.code == ResponseCode.PULL_NOT_FOUND and len(ctx.holds) == 0
        assert not ctx.holds._waiters
    asyncio.run(main())


def test_a_woken_pull_whose_filter_refuses_the_arrival_waits_on(ctx):
    async def main():
        conn, t = _conn(ctx)
        conn.data_received(_pull(0, 7, tags="B"))
        _send(ctx, "A", b"not-mine")
        await asyncio.sleep(0.01)
        assert t.out == [] and len(ctx.holds) == 1  # parked again
        _send(ctx, "B", b"mine")
        await asyncio.sleep(0.01)
        (r,) = t.out
        assert r.code == ResponseCode.SUCCESS
        assert [m.body for m in decode_records(r.body)] == [b"mine"]
    asyncio.run(main())


def test_closing_answers_every_held_pull(ctx):
    async def main():
        conn, t = _conn(ctx)
        conn.data_received(_pull(0, 1) + _pull(0, 2))
        ctx.closing = True
        ctx.holds.wake_all()
        await asyncio.sleep(0)
        assert sorted((r.opaque, r.code) for r in t.out) == \
            [(1, ResponseCode.PULL_NOT_FOUND), (2, ResponseCode.PULL_NOT_FOUND)]
        assert len(ctx.holds) == 0
    asyncio.run(main())


def test_a_full_hold_answers_at_once(ctx):
    async def main():
        ctx.holds.max_held = 1
        conn, t = _conn(ctx)
        conn.data_received(_pull(0, 1))
        conn.data_received(_pull(0, 2))
        assert [(r.opaque, r.code) for r in t.out] == [(2, ResponseCode.PULL_NOT_FOUND)]
        assert len(ctx.holds) == 1
    asyncio.run(main())


def test_a_failure_while_held_is_answered_as_a_handler_failure(ctx, monkeypatch):
    async def main():
        conn, t = _conn(ctx)
        conn.data_received(_pull(0, 9))

        def broken(*a, **k):
            raise OSError("disk gone")
        monkeypatch.setattr(ctx.store, "get", broken)
        ctx.holds.notify("PullT", 0)
        await asyncio.sleep(0)
        (r,) = t.out
        assert r.code == ResponseCode.SYSTEM_ERROR and "disk gone" in r.remark
    asyncio.run(main())


def test_a_fast_handler_that_parks_answers_through_reply():
    parked = []

    def fast(conn, cmd):
        parked.append(cmd)
        return PARKED

    async def main():
        seen: list[tuple[int, int]] = []
        conn = Connection({}, fast={7: fast}, max_inflight=1,
                          on_response=lambda code, resp, s: seen.append((code, resp)))
        t = FakeTransport()
        conn.connection_made(t)
        conn.data_received(encode(request(7, opaque=1)) + encode(request(7, opaque=2)))
        assert t.out == [] and len(parked) == 2 and conn._inflight == 0
        conn.reply(parked[1], parked[1].response(ResponseCode.SUCCESS, "late"), 0.0)
        conn.reply(parked[0], ValueError("boom"), 0.0)
        assert [(r.opaque, r.code) for r in t.out] == \
            [(2, ResponseCode.SUCCESS), (1, ResponseCode.SYSTEM_ERROR)]
        assert seen == [(7, ResponseCode.SUCCESS), (7, ResponseCode.SYSTEM_ERROR)]
        t.closing = True
        conn.reply(parked[0], parked[0].response(ResponseCode.SUCCESS), 0.0)  # dropped
        assert len(t.out) == 2
    asyncio.run(main())
