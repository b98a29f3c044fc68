"""The send path's optional duplicate filter: a producer's retry (same topic + UNIQ_KEY) is
answered with the first store's result and stored once; off by default."""

from __future__ import annotations

import asyncio

import pytest
from rmqtest.store import small_config

from pyrmq.broker import send
from pyrmq.broker.config import BrokerConfig
from pyrmq.broker.context import BrokerContext
from pyrmq.protocol import headers as H
from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import request
from pyrmq.protocol.message import encode_properties
from pyrmq.store import MessageStore


class Conn:
    remote_addr = "127.0.0.1:40000"
    id = 1
    attrs: dict = {}


def _ctx(tmp_path, enabled: bool) -> BrokerContext:
    root = str(tmp_path / "store")
    store_cfg = small_config(storePathRootDir=root)
    store = MessageStore(root, store_cfg, store_host=("127.0.0.1", 10911))
    return BrokerContext.create(BrokerConfig(storePathRootDir=root,
                                             duplicateFilterEnable=enabled), store_cfg, store)


def _send(uniq: str):
    hdr = H.SendMessageRequestHeader(
        "PG", "DedupT", "TBW102", 4, 0, 0, 1_700_000_000_000, 0,
        encode_properties({"UNIQ_KEY": uniq}).decode(), 0, False, False)
    return request(RequestCode.SEND_MESSAGE_V2, hdr.to_ext_v2(), b"body-" + uniq.encode())


@pytest.mark.parametrize("enabled,stored", [(True, 2), (False, 3)])
def test_retry_of_a_stored_message_is_not_stored_twice(tmp_path, enabled, stored):
    ctx = _ctx(tmp_path, enabled)

    async def go():
        a = await send.handle_send(ctx, Conn(), _send("U-1"))
        again = await send.handle_send(ctx, Conn(), _send("U-1"))  # the timeout retry
        b = await send.handle_send(ctx, Conn(), _send("U-2"))
        return a, again, b

    try:
        a, again, b = asyncio.run(go())
        assert a.code == again.code == b.code == ResponseCode.SUCCESS
        if enabled:
            assert again.ext_fields["msgId"] == a.ext_fields["msgId"]
            assert again.ext_fields["queueOffset"] == a.ext_fields["queueOffset"]
            assert (ctx.dedup.hits, ctx.dedup.misses) == (1, 2)
        else:
            assert ctx.dedup is None
            assert again.ext_fields["queueOffset"] != a.ext_fields["queueOffset"]
        assert ctx.store.max_offset("DedupT", 0) == stored
    finally:
        ctx.executor.shutdown(wait=True)
        ctx.store.close()


def test_window_entry_whose_record_is_gone_is_not_a_duplicate(tmp_path):
    ctx = _ctx(tmp_path, True)

    async def go():
        await send.handle_send(ctx, Conn(), _send("U-1"))
        # forge a window entry pointing at a record with another key: must store anew
        ctx.dedup.remember(ctx.dedup.key("DedupT", "U-X"), next(iter(ctx.dedup._seen.values()))[1])
        return await send.handle_send(ctx, Conn(), _send("U-X"))

    try:
        r = asyncio.run(go())
        assert r.code == ResponseCode.SUCCESS
        assert ctx.dedup.collisions == 1
        assert ctx.store.max_offset("DedupT", 0) == 2
    finally:
        ctx.executor.shutdown(wait=True)
        ctx.store.close()
