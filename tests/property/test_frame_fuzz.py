"""Fuzz: any bytes, fed whole or byte by byte, decode or raise RemoteProtocolError."""

from hypothesis import given, settings
from hypothesis import strategies as st
from rmqtest.vectors import all_vectors

from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.frame import FrameDecoder

SEEDS = [p.read_bytes() for p in all_vectors()[:10]]


def _feed(chunks):
    dec = FrameDecoder(max_frame=1 << 20)
    out = []
    try:
        for c in chunks:
            out += dec.feed(c)
    except RemoteProtocolError:
        return None
    return out


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=400))
def test_random_bytes(data):
    whole = _feed([data])
    pieces = _feed([data[i:i + 1] for i in range(len(data))])
    assert (whole is None) == (pieces is None) or whole == []  # same verdict once complete
    if whole is not None and pieces is not None:
        assert [c.code for c in whole] == [c.code for c in pieces]


@settings(max_examples=300, deadline=None)
@given(seed=st.sampled_from(SEEDS), pos=st.integers(0, 10_000), byte=st.integers(0, 255))
def test_mutated_real_frames(seed, pos, byte):
    data = bytearray(seed)
    data[pos % len(data)] = byte
    _feed([bytes(data)])  # must not raise anything but RemoteProtocolError
