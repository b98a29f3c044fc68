"""Property tests: the compiled pull-body decoder (pyrmq._store.decode_records, through
pyrmq.protocol.message.decode_records_fast) agrees with the pure-Python reference
(pyrmq.protocol.message.decode_records) on random records, truncated and corrupt ones
included: the same messages, or the same RemoteProtocolError."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyrmq import _store
from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.message import (
    MessageExt,
    _host_text,
    decode_records,
    encode_stored_record,
)
from pyrmq.protocol.message import decode_records_fast as decode_pulled

hosts = st.sampled_from([("10.0.0.1", 1234), ("::1", 9), ("fe80::1:2", 65000),
                         ("192.168.1.200", 0), ("127.0.0.1", -5)])
# raw property bytes: well-formed pairs, stray separators and invalid UTF-8
raw_props = st.one_of(
    st.dictionaries(st.text(max_size=6), st.text(max_size=10), max_size=5).map(
        lambda d: "".join(f"{k}\x01{v}\x02" for k, v in d.items()).encode("utf-8",
                                                                         "surrogatepass")),
    st.binary(max_size=40))
records = st.builds(
    lambda topic, qid, flag, qoff, phys, sysflag, bts, born, sts, store, recon, prep, body,
    props: encode_stored_record(
        topic=topic, queue_id=qid, flag=flag, queue_offset=qoff, phys_offset=phys,
        sysflag=sysflag, born_timestamp=bts, born_host=born, store_timestamp=sts,
        store_host=store, reconsume_times=recon, prepared_transaction_offset=prep, body=body,
        properties=props),
    st.text(max_size=30).filter(lambda t: len(t.encode("utf-8", "surrogatepass")) < 128
                                ).map(lambda t: t.encode("utf-8", "replace").decode()),
    st.integers(-2**31, 2**31 - 1), st.integers(-2**31, 2**31 - 1),
    st.integers(-2**63, 2**63 - 1), st.integers(0, 2**63 - 1), st.integers(0, 0x7FF),
    st.integers(-2**63, 2**63 - 1), hosts, st.integers(0, 2**62), hosts,
    st.integers(-2**31, 2**31 - 1), st.integers(-2**63, 2**63 - 1), st.binary(max_size=300),
    raw_props)


def outcome(fn, buf):
    try:
        return "ok", fn(buf)
    except RemoteProtocolError as e:
        return "error", str(e)


def agree(buf: bytes) -> None:
    want = outcome(decode_records, buf)
    assert outcome(decode_pulled, buf) == want
    # and the compiled decoder on its own refuses exactly what the reference refuses
    try:
        fast = _store.decode_records(buf, MessageExt, _host_text)
    except _store.CorruptError:
        assert want[0] == "error"
    else:
        assert ("ok", fast) == want


@settings(max_examples=300, deadline=None)
@given(st.lists(records, max_size=6))
def test_valid_bodies_agree(recs):
    buf = b"".join(recs)
    agree(buf)
    agree(memoryview(buf))
    assert len(decode_pulled(buf)) == len(recs)


@settings(max_examples=300, deadline=None)
@given(st.lists(records, min_size=1, max_size=4), st.data())
def test_truncated_bodies_agree(recs, data):
    buf = b"".join(recs)
    agree(buf[:data.draw(st.integers(0, len(buf) - 1))])


@settings(max_examples=600, deadline=None)
@given(st.lists(records, min_size=1, max_size=4), st.data())
def test_corrupt_bodies_agree(recs, data):
    buf = bytearray(b"".join(recs))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(buf) - 1))
        buf[i] = data.draw(st.integers(0, 255))
    # lengths are where decoders usually disagree: sometimes overwrite one with a near miss
    if data.draw(st.booleans()):
        at = data.draw(st.sampled_from([0, 4, 36]))
        struct.pack_into(">i", buf, at, data.draw(st.integers(-3, 200)))
    agree(bytes(buf) + data.draw(st.binary(max_size=50)))


@pytest.mark.parametrize("tail", [b"", b"\x00" * 8, b"\x00" * 60,
                                  struct.pack(">iI", 8, 0xCBD43194), b"\xff" * 43])
def test_blank_and_zero_tails_are_errors_in_both(tail):
    rec = encode_stored_record(
        topic="T", queue_id=0, flag=0, queue_offset=0, phys_offset=0, sysflag=0,
        born_timestamp=1, born_host=("127.0.0.1", 1), store_timestamp=2,
        store_host=("127.0.0.1", 2), reconsume_times=0, prepared_transaction_offset=0,
        body=b"x", properties={"TAGS": "A"})
    agree(rec + tail)
    if tail:
        with pytest.raises(RemoteProtocolError):
            decode_pulled(rec + tail)
