"""Message codec against the captured frames and the C core's hash/CRC."""

from __future__ import annotations

import zlib

import pytest
from rmqtest.vectors import all_vectors, vector

from pyrmq import _store
from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.frame import FrameDecoder, encode
from pyrmq.protocol.message import (
    BatchItem,
    decode_batch,
    decode_properties,
    decode_records,
    encode_batch,
    encode_properties,
    encode_stored_record,
    java_hash,
    offset_msg_id,
    parse_offset_msg_id,
)


def _frame(num: int):
    raw, desc = vector(num)
    cmds = FrameDecoder().feed(raw)
    assert len(cmds) == 1
    return cmds[0], desc


@pytest.mark.parametrize("path", all_vectors(), ids=lambda p: p.stem)
def test_every_vector_decodes_whole_and_byte_by_byte(path):
    raw = path.read_bytes()
    whole = FrameDecoder().feed(raw)
    dec = FrameDecoder()
    pieces = [c for i in range(len(raw)) for c in dec.feed(raw[i:i + 1])]
    assert len(whole) == 1 and pieces == whole
    again = FrameDecoder().feed(encode(whole[0]))
    assert again[0].code == whole[0].code and again[0].body == whole[0].body
    assert dict(again[0].ext_fields) == dict(whole[0].ext_fields)


def test_pull_body_records_decode_as_captured():
    cmd, desc = _frame(31)
    msgs = decode_records(cmd.body)
    want = desc["body_decoded"]
    assert len(msgs) == len(want) == 2
    for m, w in zip(msgs, want, strict=True):
        assert m.size == w["TOTALSIZE"]
        assert m.body == w["BODY"].encode()
        assert m.phys_offset == w["PHYSICALOFFSET"]
        assert m.store_timestamp == w["STORETIMESTAMP"]
        assert f"{m.store_host[0]}:{m.store_host[1]}" == w["STOREHOST"]
        assert m.properties == decode_properties(w["PROPERTIES"])
        assert m.body_crc == zlib.crc32(m.body) & 0x7FFFFFFF
        rebuilt = encode_stored_record(
            topic=m.topic, queue_id=m.queue_id, flag=m.flag, queue_offset=m.queue_offset,
            phys_offset=m.phys_offset, sysflag=m.sysflag, born_timestamp=m.born_timestamp,
            born_host=m.born_host, store_timestamp=m.store_timestamp, store_host=m.store_host,
            reconsume_times=m.reconsume_times,
            prepared_transaction_offset=m.prepared_transaction_offset, body=m.body,
            properties=w["PROPERTIES"].encode())
        assert rebuilt == cmd.body[w["offset_in_body"]:w["offset_in_body"] + m.size]


def test_batch_body_round_trip():
    cmd, desc = _frame(6)
    items = decode_batch(cmd.body)
    assert [i.body for i in items] == [b"batch-1", b"batch-2"]
    assert items[1].properties["TAGS"] == "TagB"
    again = decode_batch(encode_batch([BatchItem(b"x", {"A": "1"}, 3)]))
    assert again == [BatchItem(b"x", {"A": "1"}, 3)]
    with pytest.raises(RemoteProtocolError):
        decode_batch(cmd.body[:-5])


def test_garbage_records_raise_protocol_errors():
    cmd, _ = _frame(31)
    for cut in (1, 10, 50, 197):
        with pytest.raises(RemoteProtocolError):
            decode_records(cmd.body[:cut])


@pytest.mark.parametrize("text", ["TagA", "*", "", "héllo", "日本語", "😀x", "a" * 300])
def test_java_hash_matches_c_core(text):
    assert java_hash(text) == _store.java_hash(text)


def test_properties_and_msg_ids():
    assert decode_properties(encode_properties({"A": "1", "B": ""})) == {"A": "1", "B": ""}
    assert decode_properties(b"A\x011\x02junk\x02A\x012\x02") == {"A": "2"}
    mid = offset_msg_id("127.0.0.1", 10911, 0)
    assert mid == "7F00000100002A9F0000000000000000"
    assert parse_offset_msg_id(mid) == ("127.0.0.1", 10911, 0)
    assert parse_offset_msg_id(offset_msg_id("::1", 5, 99)) == ("::1", 5, 99)
