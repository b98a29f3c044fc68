"""Frame round trips (JSON and ROCKETMQ binary headers), byte-by-byte feeding, codes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pyrmq.protocol.codes import PermName, RequestCode, ResponseCode, perm_to_string
from pyrmq.protocol.command import SERIALIZE_JSON, SERIALIZE_ROCKETMQ, RemotingCommand
from pyrmq.protocol.frame import FrameDecoder, encode

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


@st.composite
def _commands(draw):
    return RemotingCommand(
        code=draw(st.integers(-2**15, 2**15 - 1)), opaque=draw(st.integers(-2**31, 2**31 - 1)),
        flag=draw(st.integers(0, 3)), remark=draw(st.one_of(st.none(), _text.filter(bool))),
        ext_fields=draw(st.dictionaries(_text.filter(bool), _text, max_size=5)),
        body=draw(st.binary(max_size=64)), language=draw(st.sampled_from(["JAVA", "CPP"])),
        version=draw(st.integers(0, 1000)),
        serialize_type=draw(st.sampled_from([SERIALIZE_JSON, SERIALIZE_ROCKETMQ])))


@settings(max_examples=200, deadline=None)
@given(_commands(), st.integers(1, 7))
def test_frame_round_trip_whole_and_in_pieces(cmd, step):
    raw = encode(cmd) + encode(cmd)
    dec = FrameDecoder()
    got = [c for i in range(0, len(raw), step) for c in dec.feed(raw[i:i + step])]
    assert got == [cmd, cmd] and dec.buffered == 0


def test_codes_cover_the_java_tables():
    assert RequestCode.SEND_MESSAGE_V2 == 310 and RequestCode.ADD_WRITE_PERM_OF_BROKER == 327
    assert RequestCode.GET_ROUTEINFO_BY_TOPIC == 105 and RequestCode.QUERY_DATA_VERSION == 322
    assert ResponseCode.PULL_NOT_FOUND == 19 and ResponseCode.NO_MESSAGE == 208
    assert len(RequestCode) >= 90 and len({int(c) for c in RequestCode}) == len(RequestCode)
    assert perm_to_string(PermName.READ | PermName.WRITE) == "RW-"
    assert perm_to_string(7) == "RWX" and perm_to_string(0) == "---"
