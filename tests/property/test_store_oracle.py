"""Property tests: records written by the C core equal the pure-Python oracle byte for byte."""

from __future__ import annotations

import struct
import tempfile

from hypothesis import given, settings
from hypothesis import strategies as st
from rmqtest.store import small_config

from pyrmq.protocol.message import encode_properties, encode_stored_record, java_hash
from pyrmq.store import MessageStore

topics = st.text(alphabet="abcXYZ019_-%|", min_size=1, max_size=40)
prop_text = st.text(alphabet=st.characters(blacklist_characters="\x01\x02",
                                           blacklist_categories=("Cs",)), max_size=20)
props = st.dictionaries(st.text(alphabet="ABCKEYSTAGUNIQ_", min_size=1, max_size=8), prop_text,
                        max_size=5)
hosts = st.sampled_from([("10.0.0.1", 1234), ("::1", 9), ("fe80::1:2", 65000),
                         ("192.168.1.200", 0)])
messages = st.lists(st.tuples(topics, st.integers(0, 7), st.binary(max_size=300), props, hosts,
                              st.integers(-2**31, 2**31 - 1), st.integers(0, 16)),
                    min_size=1, max_size=12)


@settings(max_examples=40, deadline=None)
@given(msgs=messages, store_v6=st.booleans())
def test_c_records_equal_the_oracle(msgs, store_v6):
    store_host = ("fd00::7", 10911) if store_v6 else ("127.0.0.1", 10911)
    with tempfile.TemporaryDirectory() as d, \
            MessageStore(d, small_config(), store_host=store_host) as s:
        for topic, qid, body, pr, born, flag, recon in msgs:
            raw_props = encode_properties(pr)
            r = s.put(topic, qid, body, properties=raw_props, flag=flag, born_timestamp=77,
                      born_host=born, reconsume_times=recon)
            want = encode_stored_record(
                topic=topic, queue_id=qid, flag=flag, queue_offset=r.queue_offset,
                phys_offset=r.phys_offset, sysflag=0, born_timestamp=77, born_host=born,
                store_timestamp=r.store_timestamp, store_host=store_host,
                reconsume_times=recon, prepared_transaction_offset=0, body=body,
                properties=raw_props)
            assert s.read_at(r.phys_offset) == want
            assert r.size == len(want)
            got = s.get(topic, qid, r.queue_offset, 1)
            assert got.data == want
        s.flush()
        # the 20-byte consume queue entry of the last message, read from the file
        topic, qid, _, pr, _, _, _ = msgs[-1]
        off = s.max_offset(topic, qid) - 1
        path = f"{d}/consumequeue/{topic}/{qid}/{0:020d}"
        with open(path, "rb") as f:
            f.seek(off * 20)
            entry = f.read(20)
        tags = pr.get("TAGS")
        phys = s.phys_of(topic, qid, off)
        size = len(s.read_at(phys))
        assert entry == struct.pack(">qiq", phys, size, java_hash(tags) if tags else 0)


# ASCII runs of every length around the C hash's four-byte step, broken by 2-, 3- and 4-byte
# UTF-8 characters, so the step's entry and exit are both exercised
hash_text = st.lists(st.one_of(st.text(alphabet="aZ09#_-", min_size=0, max_size=9),
                               st.sampled_from(["é", "中", "😀", "\x7f"])), max_size=12)


@settings(max_examples=300, deadline=None)
@given(parts=hash_text)
def test_c_java_hash_equals_the_oracle(parts):
    from pyrmq import _store

    text = "".join(parts)
    assert _store.java_hash(text.encode()) == java_hash(text)
