"""Message codec: IPv6 hosts, compression kinds, truncation, properties edge cases and a
hypothesis round trip of records (pure Python; the C-vs-oracle test lives in tests/property)."""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrmq.protocol.codes import MessageSysFlag
from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.message import (
    BatchItem,
    MessageConst,
    compress_body,
    decode_batch,
    decode_properties,
    decode_record,
    decode_records,
    decompress_body,
    encode_batch,
    encode_properties,
    encode_stored_record,
    java_hash,
    offset_msg_id,
    parse_offset_msg_id,
    tags_code,
)


def _record(**over):
    kw = dict(topic="T", queue_id=1, flag=0, queue_offset=5, phys_offset=1000, sysflag=0,
              born_timestamp=111, born_host=("127.0.0.1", 4000), store_timestamp=222,
              store_host=("127.0.0.1", 10911), reconsume_times=0,
              prepared_transaction_offset=0, body=b"hello",
              properties={MessageConst.TAGS: "A", MessageConst.KEYS: "k1 k2",
                          MessageConst.UNIQ_KEY: "U1"})
    kw.update(over)
    return encode_stored_record(**kw), kw


def test_ipv4_record_fields_and_crc():
    raw, kw = _record()
    (m,) = decode_records(raw)
    assert m.size == len(raw) == 91 + 5 + 1 + len(encode_properties(kw["properties"]))
    assert (m.topic, m.queue_id, m.queue_offset, m.phys_offset) == ("T", 1, 5, 1000)
    assert m.born_host == ("127.0.0.1", 4000) and m.store_host == ("127.0.0.1", 10911)
    assert m.body_crc == zlib.crc32(b"hello") & 0x7FFFFFFF
    assert m.tags == "A" and m.keys == ["k1", "k2"] and m.uniq_key == "U1" and m.msg_id == "U1"
    assert len(m.offset_msg_id) == 32
    assert parse_offset_msg_id(m.offset_msg_id) == ("127.0.0.1", 10911, 1000)


def test_ipv6_hosts_set_sysflag_bits_and_decode():
    raw, _ = _record(born_host=("::1", 1), store_host=("fe80::2", 10911))
    m = decode_record(raw)
    assert m.sysflag & MessageSysFlag.BORNHOST_V6 and m.sysflag & MessageSysFlag.STOREHOST_V6
    assert m.born_host == ("::1", 1) and m.store_host == ("fe80::2", 10911)
    assert len(raw) == m.size == 91 + 24 + 5 + 1 + len(encode_properties(m.properties))
    mid = m.offset_msg_id
    assert len(mid) == 56 and parse_offset_msg_id(mid) == ("fe80::2", 10911, 1000)
    assert offset_msg_id("10.0.0.1", 1, 2) == "0A000001" "00000001" "0000000000000002"


@pytest.mark.parametrize("kind", ["zlib", "lz4"])
def test_compression_kinds(kind):
    body = b"abc" * 500
    comp, bits = compress_body(body, kind)
    assert bits & MessageSysFlag.COMPRESSED and decompress_body(comp, bits) == body
    raw, _ = _record(body=comp, sysflag=bits)
    assert decode_record(raw).decompressed_body() == body


def test_zstd_and_corrupt_compression_are_clear_errors():
    with pytest.raises(RemoteProtocolError, match="unsupported compression type 2"):
        decompress_body(b"x", 0x1 | 0x200)
    with pytest.raises(RemoteProtocolError, match="decompress"):
        decompress_body(b"not zlib", 0x1)
    assert decompress_body(b"raw", 0) == b"raw"
    assert decompress_body(zlib.compress(b"q"), 0x1 | 0x300) == b"q"


def test_every_truncation_is_a_protocol_error():
    raw, _ = _record()
    two = raw + _record(topic="U", queue_offset=6)[0]
    for n in range(1, len(two)):
        if n == len(raw):
            assert len(decode_records(two[:n])) == 1
            continue
        with pytest.raises(RemoteProtocolError):
            decode_records(two[:n])


def test_properties_malformed_pairs_and_duplicates():
    assert decode_properties(b"a\x011\x02b\x012\x02") == {"a": "1", "b": "2"}
    assert decode_properties(b"a\x011\x02junk\x02a\x013\x02")["a"] == "3"
    assert decode_properties(b"") == {}
    assert decode_properties(encode_properties({"k": "v", "x": "y z"})) == {"k": "v", "x": "y z"}


def test_java_hash_and_tags_code():
    assert java_hash("") == 0 and java_hash("TagA") == 2598919
    assert java_hash("polygenelubricants") == -2147483648
    assert java_hash("\U0001f600") == 0xD83D * 31 + 0xDE00  # two UTF-16 code units
    assert tags_code("TagA") == java_hash("TagA")


def test_batch_garbage():
    good = encode_batch([BatchItem(b"x", {"a": "b"}), BatchItem(b"", {}, 3)])
    assert decode_batch(good) == [BatchItem(b"x", {"a": "b"}), BatchItem(b"", {}, 3)]
    for n in range(1, len(good)):
        try:
            decode_batch(good[:n])
        except RemoteProtocolError:
            pass


_s = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x01\x02"),
             min_size=1, max_size=8)
_v4 = st.tuples(st.ip_addresses(v=4).map(str), st.integers(0, 65535))
_v6 = st.tuples(st.ip_addresses(v=6).map(str), st.integers(0, 65535))


@settings(max_examples=150, deadline=None)
@given(topic=st.text(st.characters(min_codepoint=33, max_codepoint=126), min_size=1,
                     max_size=40),
       body=st.binary(max_size=300), props=st.dictionaries(_s, _s, max_size=5),
       born=st.one_of(_v4, _v6), store=st.one_of(_v4, _v6),
       nums=st.tuples(st.integers(0, 2**31 - 1), st.integers(0, 2**62), st.integers(0, 2**62),
                      st.integers(0, 2**40)))
def test_record_round_trip(topic, body, props, born, store, nums):
    qid, qoff, phys, ts = nums
    raw, _ = _record(topic=topic, queue_id=qid, queue_offset=qoff, phys_offset=phys,
                     born_timestamp=ts, store_timestamp=ts + 1, born_host=born,
                     store_host=store, body=body, properties=props)
    (m,) = decode_records(raw + b"")
    assert (m.topic, m.queue_id, m.queue_offset, m.phys_offset, m.body) == (
        topic, qid, qoff, phys, body)
    assert m.properties == props and m.size == len(raw)
    assert m.born_host[1] == born[1] and m.store_host[1] == store[1]
    assert encode_stored_record(
        topic=m.topic, queue_id=m.queue_id, flag=m.flag, queue_offset=m.queue_offset,
        phys_offset=m.phys_offset, sysflag=m.sysflag, born_timestamp=m.born_timestamp,
        born_host=m.born_host, store_timestamp=m.store_timestamp, store_host=m.store_host,
        reconsume_times=m.reconsume_times,
        prepared_transaction_offset=m.prepared_transaction_offset, body=m.body,
        properties=m.properties) == raw
