"""The broker's fast send handler (``send.send_fast``) answers a plain SEND_MESSAGE_V2 exactly
as ``send.handle_send`` does (same response, same stored record) and hands everything else to
it untouched; Connection tries a fast handler first and falls back to the coroutine."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from rmqtest.store import small_config
from rmqtest.vectors import vector
from test_broker_handlers import FakeConn
from test_remoting_inline import FakeTransport

from pyrmq.broker import send
from pyrmq.broker.config import BrokerConfig
from pyrmq.broker.context import BrokerContext
from pyrmq.protocol import headers as H
from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import RemotingCommand, request
from pyrmq.protocol.frame import FrameDecoder, encode
from pyrmq.protocol.message import decode_records, encode_properties
from pyrmq.remoting.connection import Connection, Later
from pyrmq.store import MessageStore


def _ctx(root: str, **cfg) -> BrokerContext:
    store_cfg = small_config(storePathRootDir=root)
    store = MessageStore(root, store_cfg, store_host=("127.0.0.1", 10911))
    c = BrokerContext.create(BrokerConfig(storePathRootDir=root, **cfg), store_cfg, store)
    c.topics.ensure("FastT", 4)
    c.topics.ensure("CapTopic", 4)
    c.topics.ensure("ReadOnlyT", 4, perm=4)
    c.topics.ensure("%RETRY%G1", 1)
    return c


@pytest.fixture
def pair(tmp_path):
    """Two brokers over their own stores: one answers through send_fast, one through
    handle_send."""
    a, b = _ctx(str(tmp_path / "a")), _ctx(str(tmp_path / "b"))
    yield a, b
    for c in (a, b):
        c.executor.shutdown(wait=True)
        c.store.close()


def _cmd(topic: str = "FastT", body: bytes = b"hello", props: dict | None = None,
         **fields: str) -> RemotingCommand:
    p = {"TAGS": "TagA", "UNIQ_KEY": "0A0000010001000000000000000000AA", "WAIT": "true"}
    ext = H.SendMessageRequestHeader(
        "PG", topic, "TBW102", 4, 1, 0, 1_700_000_000_123, 3,
        encode_properties(p if props is None else props).decode(), 0, False,
        False).to_ext_v2()
    ext.update(fields)
    return request(RequestCode.SEND_MESSAGE_V2, ext, body, opaque=5)


def _stored(ctx: BrokerContext, topic: str, queue_id: int) -> list[dict]:
    got = ctx.store.get(topic, queue_id, 0, 32)
    return [{k: v for k, v in dataclasses.asdict(m).items() if k != "store_timestamp"}
            for m in decode_records(got.data)] if got.count else []


PLAIN = [
    {},
    {"props": {}},                                          # no properties at all
    {"props": {"WAIT": "false", "KEYS": "k1 k2", "a": "b\x01c"}},  # a value holding \x01
    {"body": b"", "e": "3", "f": "0", "h": "0"},
    {"k": "true", "j": "0", "m": "false"},
    {"body": b"x" * 5000},
]


@pytest.mark.parametrize("case", PLAIN)
def test_a_plain_send_is_answered_and_stored_as_handle_send_would(pair, case):
    fast_ctx, slow_ctx = pair
    case = dict(case)
    kw = {k: case.pop(k) for k in ("props", "body") if k in case}

    async def go():
        for i in range(3):  # the offsets advance alike too
            cmd = _cmd(**kw, **case)
            fast = send.send_fast(fast_ctx, FakeConn(), cmd)
            assert fast is not None, "the fast path should take a plain send"
            slow = await send.handle_send(slow_ctx, FakeConn(), cmd)
            assert (fast.code, fast.remark, dict(fast.ext_fields), fast.opaque, fast.flag) == \
                (slow.code, slow.remark, dict(slow.ext_fields), slow.opaque, slow.flag), i
            assert fast.code == ResponseCode.SUCCESS
        qid = int(cmd.ext_fields["e"])
        assert _stored(fast_ctx, "FastT", qid) == _stored(slow_ctx, "FastT", qid)
        assert len(_stored(fast_ctx, "FastT", qid)) == 3
        assert fast_ctx.stats.put_count == slow_ctx.stats.put_count == 3
    asyncio.run(go())


DECLINED = [
    ("delay", _cmd(props={"DELAY": "2"})),
    ("transaction", _cmd(props={"TRAN_MSG": "true", "PGROUP": "PG"})),
    ("retry topic", _cmd("%RETRY%G1")),
    ("schedule topic", _cmd("SCHEDULE_TOPIC_XXXX")),
    ("unknown topic", _cmd("NewTopic")),
    ("read-only topic", _cmd("ReadOnlyT")),
    ("batch", _cmd(m="true")),
    ("reconsumed", _cmd(j="2")),
    ("max reconsume given", _cmd(l="3")),
    ("queue id not a plain number", _cmd(e="+1")),
    ("queue id negative", _cmd(e="-1")),
    ("queue id out of range", _cmd(e="9")),
    ("unicode digits", _cmd(f="\u0661")),
    ("born timestamp missing", _cmd(g="")),
    ("bad producer group", _cmd(a="bad group!")),
    ("bad default topic", _cmd(c="bad topic!")),
    ("odd unit mode", _cmd(k="yes")),
    ("no topic", request(RequestCode.SEND_MESSAGE_V2, {"a": "PG"}, b"x")),
]


@pytest.mark.parametrize("why,cmd", DECLINED, ids=[d[0] for d in DECLINED])
def test_anything_else_is_left_to_handle_send_untouched(pair, why, cmd):
    ctx = pair[0]
    before = ctx.store.max_phys_offset()
    assert send.send_fast(ctx, FakeConn(), cmd) is None, why
    assert ctx.stats.put_count == 0 and ctx.store.max_phys_offset() == before


@pytest.mark.parametrize("cfg", [{"brokerRole": "SLAVE"}, {"brokerRole": "SYNC_MASTER"},
                                 {"duplicateFilterEnable": True}, {"brokerPermission": 4}])
def test_a_broker_that_is_not_a_plain_async_master_declines(tmp_path, cfg):
    ctx = _ctx(str(tmp_path / "s"), **cfg)
    try:
        assert send.send_fast(ctx, FakeConn(), _cmd()) is None
    finally:
        ctx.executor.shutdown(wait=True)
        ctx.store.close()


def test_a_store_refusal_is_answered_like_handle_send_answers_it(pair):
    fast_ctx, slow_ctx = pair
    fast_ctx.store.close()
    slow_ctx.store.close()

    async def go():
        fast = send.send_fast(fast_ctx, FakeConn(), _cmd())
        slow = await send.handle_send(slow_ctx, FakeConn(), _cmd())
        assert fast is not None and (fast.code, fast.remark) == (slow.code, slow.remark)
        assert fast.code == ResponseCode.SERVICE_NOT_AVAILABLE
    asyncio.run(go())


def test_connection_tries_the_fast_handler_first_and_falls_back():
    calls: list[str] = []

    def fast(conn, cmd):
        calls.append("fast")
        if cmd.body == b"boom":
            raise ValueError("broken")
        return cmd.response(ResponseCode.SUCCESS, "fast") if cmd.body == b"easy" else None

    async def slow(conn, cmd):
        calls.append("slow")
        return cmd.response(ResponseCode.SUCCESS, "slow")

    seen: list[tuple[int, int]] = []

    async def main():
        conn = Connection({7: slow}, fast={7: fast},
                          on_response=lambda code, resp, s: seen.append((code, resp)))
        t = FakeTransport()
        conn.connection_made(t)
        conn.data_received(b"".join(encode(request(7, body=b, opaque=i))
                                    for i, b in enumerate([b"easy", b"hard", b"boom"])))
        assert [(r.opaque, r.code, r.remark) for r in t.out] == [
            (0, ResponseCode.SUCCESS, "fast"), (1, ResponseCode.SUCCESS, "slow"),
            (2, ResponseCode.SYSTEM_ERROR, "ValueError: broken")]
        assert calls == ["fast", "fast", "slow", "fast"]  # a failing fast one is not retried
        assert seen == [(7, 0), (7, 0), (7, ResponseCode.SYSTEM_ERROR)]
        assert t.writes == 1 and conn._inflight == 0
    asyncio.run(main())


def _captured(num: int) -> RemotingCommand:
    (cmd,) = FrameDecoder().feed(vector(num)[0])
    return cmd


@pytest.mark.parametrize("num", [4, 5, 7, 8])
def test_the_cpp_clients_send_message_takes_the_fast_path_alike(pair, num):
    """The C++ client sends code 10 with long field names, batch/unitMode as "0"; a compressed
    body (sysflag 1) is stored as sent, as handle_send stores it."""
    fast_ctx, slow_ctx = pair
    cmd = _captured(num)
    assert cmd.code == RequestCode.SEND_MESSAGE

    async def go():
        fast = send.send_fast(fast_ctx, FakeConn(), cmd)
        assert fast is not None and fast.code == ResponseCode.SUCCESS
        slow = await send.handle_send(slow_ctx, FakeConn(), cmd)
        assert (fast.code, dict(fast.ext_fields)) == (slow.code, dict(slow.ext_fields))
        qid = int(cmd.ext_fields["queueId"])
        assert _stored(fast_ctx, "CapTopic", qid) == _stored(slow_ctx, "CapTopic", qid)
    asyncio.run(go())


def test_the_cpp_clients_delayed_send_is_left_to_handle_send(pair):
    assert send.send_fast(pair[0], FakeConn(), _captured(9)) is None


def test_a_send_that_wakes_a_held_pull_is_answered_after_the_pull(pair):
    """Both paths let the woken pull go first: send_fast answers Later (the Connection sends
    it after the callbacks already due), handle_send yields once before it returns."""
    fast_ctx, slow_ctx = pair

    async def go():
        order: list[str] = []

        def woken(ok: bool) -> None:  # a held pull is a callback (pull.start_pull)
            assert ok
            order.append("pull")
        for ctx in (fast_ctx, slow_ctx):
            order.clear()
            ctx.holds.park("FastT", 1, 5.0, woken)
            if ctx is fast_ctx:
                fast = send.send_fast(ctx, FakeConn(), _cmd())
                assert isinstance(fast, Later) and order == []
            else:
                slow = await send.handle_send(ctx, FakeConn(), _cmd())
                assert order == ["pull"], "the woken pull ran before the answer"
            await asyncio.sleep(0)
            assert order == ["pull"]
        assert (fast.resp.code, dict(fast.resp.ext_fields)) == \
            (slow.code, dict(slow.ext_fields))
        # nobody held: the answer is immediate, as before
        assert isinstance(send.send_fast(fast_ctx, FakeConn(), _cmd()), RemotingCommand)
    asyncio.run(go())


def test_connection_sends_a_later_answer_after_the_callbacks_already_due():
    order: list[str] = []

    def fast(conn, cmd):
        asyncio.get_running_loop().call_soon(order.append, "woken")
        return Later(cmd.response(ResponseCode.SUCCESS, "later"))

    async def main():
        seen: list[tuple[int, int]] = []
        conn = Connection({}, fast={7: fast},
                          on_response=lambda code, resp, s: seen.append((code, resp)))
        t = FakeTransport()
        t.write = lambda data: order.append("answer")  # type: ignore[method-assign]
        conn.connection_made(t)
        conn.data_received(encode(request(7, opaque=3)))
        assert order == []
        await asyncio.sleep(0)
        assert order == ["woken", "answer"] and seen == [(7, 0)]
    asyncio.run(main())


@pytest.mark.parametrize("region,trace", [("DefaultRegion", True), ("r-1", False),
                                          (None, False), ("", True)])
@pytest.mark.parametrize("stype", [0, 1])
def test_the_fast_answer_is_the_typed_headers_answer(region, trace, stype):
    req = dataclasses.replace(_cmd(), serialize_type=stype)
    want = req.response(ResponseCode.SUCCESS, ext_fields=H.SendMessageResponseHeader(
        "7F0000010000000000000000000000FF", 3, 99, None, region, trace))
    got = send._sent(req, "7F0000010000000000000000000000FF", 3, 99, region, trace)
    assert got == want and encode(got) == encode(want)
    assert list(got.ext_fields) == list(want.ext_fields)
