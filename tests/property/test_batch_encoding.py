"""The producer's batch encoding: the dict-free properties of a message equal what
``encode_properties(wire_properties(...))`` writes for every message, a batch's UNIQ_KEYs are
distinct keys of the usual form, and a batch body decodes back to its items."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from pyrmq.client.message import Message, new_uniq_key, new_uniq_keys
from pyrmq.protocol.message import (
    BatchItem,
    decode_batch,
    decode_properties,
    encode_batch,
    encode_batch_raw,
    encode_properties,
)

name = st.text(st.characters(blacklist_characters="\x01\x02", blacklist_categories=["Cs"]),
               max_size=8)
messages = st.builds(
    Message, topic=st.just("T"), body=st.binary(max_size=40),
    tags=st.one_of(st.none(), st.just(""), name),
    keys=st.lists(name, max_size=3),
    properties=st.one_of(st.just({}), st.dictionaries(
        st.one_of(name, st.sampled_from(["WAIT", "UNIQ_KEY", "TAGS", "KEYS", "DELAY"])), name,
        max_size=4)),
    delay_level=st.sampled_from([0, 0, 0, 1, 3]), flag=st.integers(0, 2**31 - 1))


@settings(max_examples=400, deadline=None)
@given(msg=messages, uniq=st.sampled_from(["0" * 32, new_uniq_key()]))
def test_raw_wire_properties_equal_the_dict_path(msg, uniq):
    assert msg.wire_properties_raw(uniq) == encode_properties(msg.wire_properties(uniq))


@settings(max_examples=200, deadline=None)
@given(msgs=st.lists(messages, min_size=1, max_size=20))
def test_batch_body_decodes_back(msgs):
    keys = new_uniq_keys(len(msgs))
    raw = encode_batch_raw([(m.body, m.wire_properties_raw(k), m.flag)
                            for m, k in zip(msgs, keys, strict=True)])
    items = decode_batch(raw)
    assert [(i.body, i.flag) for i in items] == [(m.body, m.flag) for m in msgs]
    assert [i.properties for i in items] == [
        decode_properties(encode_properties(m.wire_properties(k)))
        for m, k in zip(msgs, keys, strict=True)]
    assert encode_batch([BatchItem(m.body, m.wire_properties(k), m.flag)
                         for m, k in zip(msgs, keys, strict=True)]) == raw


def test_batch_uniq_keys_are_distinct_and_of_the_usual_form():
    one = new_uniq_key()
    keys = new_uniq_keys(300)
    assert len(set(keys)) == 300 and one not in keys
    for k in keys:
        assert re.fullmatch(r"[0-9A-F]{32}", k) and k[:12] == one[:12]
    # the counter goes on from where the batch left it
    assert int(new_uniq_key()[-4:], 16) == (int(keys[-1][-4:], 16) + 1) & 0xFFFF
