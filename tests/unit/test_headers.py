"""Typed headers: every captured request decodes into its header with the captured values;
captured responses are rebuilt from our headers; bad input answers SYSTEM_ERROR naming the field."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rmqtest.vectors import vector

from pyrmq.protocol import headers as H
from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import RemotingCommand, request
from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.frame import FrameDecoder, encode
from pyrmq.protocol.headerbase import bounds, name_fields

REQUESTS = {
    1: H.GetRouteInfoRequestHeader, 2: H.GetRouteInfoRequestHeader, 3: H.GetRouteInfoRequestHeader,
    4: H.SendMessageRequestHeader, 5: H.SendMessageRequestHeader, 6: H.SendMessageRequestHeader,
    7: H.SendMessageRequestHeader, 8: H.SendMessageRequestHeader, 9: H.SendMessageRequestHeader,
    13: H.UnregisterClientRequestHeader, 14: H.UnregisterClientRequestHeader,
    15: H.GetConsumerListByGroupRequestHeader, 16: H.QueryConsumerOffsetRequestHeader,
    17: H.GetMaxOffsetRequestHeader, 18: H.PullMessageRequestHeader,
    19: H.PullMessageRequestHeader, 20: H.PullMessageRequestHeader,
    21: H.ConsumerSendMsgBackRequestHeader, 22: H.UpdateConsumerOffsetRequestHeader,
    39: H.NotifyConsumerIdsChangedRequestHeader, 40: H.GetConsumerRunningInfoRequestHeader,
}
RESPONSES = {
    29: H.SendMessageResponseHeader, 31: H.PullMessageResponseHeader,
    32: H.PullMessageResponseHeader, 33: H.PullMessageResponseHeader,
    34: H.QueryConsumerOffsetResponseHeader, 36: H.OffsetResponseHeader,
}


def _frame(num: int) -> tuple[RemotingCommand, dict]:
    raw, desc = vector(num)
    (cmd,) = FrameDecoder().feed(raw)
    return cmd, desc


def _as_text(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _same_value(wire_text: str, ours: str) -> bool:
    low = wire_text.strip().lower()
    if ours in ("true", "false") and low in ("true", "false", "1", "0"):
        return (low in ("true", "1")) == (ours == "true")
    return wire_text == ours


@pytest.mark.parametrize("num", sorted(REQUESTS))
def test_captured_request_decodes_to_typed_header(num):
    cmd, desc = _frame(num)
    cls = REQUESTS[num]
    hdr = (cls.from_command(cmd) if cls is H.SendMessageRequestHeader
           else cls.from_ext(cmd.ext_fields))
    captured = desc["header"]["extFields"]
    ours = hdr.to_ext()
    assert ours, "no field decoded"
    defaults = {w: f.default for (_a, w, _b, _r), f in
                zip(H._spec(cls), dataclasses.fields(cls), strict=True)}
    for wire, text in ours.items():
        if wire not in captured:  # a Java primitive with a default the client did not send
            assert _as_text(defaults[wire]) == text, wire
            continue
        assert _same_value(_as_text(captured[wire]), text), (wire, captured[wire], text)
    # every field the class knows and the client sent is carried
    known = {w for _a, w, _b, _r in H._spec(cls)}
    for wire, value in captured.items():
        if wire in known and value != "":
            assert wire in ours, wire
    # idempotent: decoding our own text gives the same header
    assert cls.from_ext(ours) == hdr


def test_send_v1_values_and_v2_letters():
    cmd, desc = _frame(4)
    hdr = H.SendMessageRequestHeader.from_command(cmd)
    ext = desc["header"]["extFields"]
    assert hdr.topic == ext["topic"] and hdr.producer_group == ext["producerGroup"]
    assert hdr.queue_id == int(ext["queueId"]) and hdr.born_timestamp == int(ext["bornTimestamp"])
    v2 = request(RequestCode.SEND_MESSAGE_V2, hdr.to_ext_v2())
    assert set(v2.ext_fields) <= set("abcdefghijklmn")
    assert H.SendMessageRequestHeader.from_command(v2) == hdr
    batch = H.SendMessageRequestHeader.from_command(
        request(RequestCode.SEND_BATCH_MESSAGE, {k: v for k, v in hdr.to_ext_v2().items()
                                                  if k != "m"}))
    assert batch.batch is True


@pytest.mark.parametrize("num", sorted(RESPONSES))
def test_captured_response_rebuilt_from_header(num):
    cmd, desc = _frame(num)
    cls = RESPONSES[num]
    hdr = cls.from_ext(cmd.ext_fields)
    rebuilt = request(0, hdr.to_ext()).response(cmd.code, ext_fields=hdr.to_ext(),
                                                  body=cmd.body)
    (again,) = FrameDecoder().feed(encode(rebuilt))
    captured = desc["header"].get("extFields", {})
    known = {w for _a, w, _b, _r in H._spec(cls)}
    assert {k: _as_text(v) for k, v in captured.items() if k in known} == dict(again.ext_fields)
    assert again.code == desc["header"]["code"] and again.body == cmd.body


def test_missing_required_field_is_system_error_naming_it():
    with pytest.raises(RemoteProtocolError) as e:
        H.PullMessageRequestHeader.from_ext({"consumerGroup": "g", "topic": "t"})
    assert e.value.response_code == ResponseCode.SYSTEM_ERROR and not e.value.fatal
    assert "<queueId>" in str(e.value)


def test_bad_number_and_bad_bool():
    with pytest.raises(RemoteProtocolError, match="queueId"):
        H.GetMaxOffsetRequestHeader.from_ext({"topic": "t", "queueId": "x1"})
    with pytest.raises(RemoteProtocolError, match="isForce"):
        H.ResetOffsetRequestHeader.from_ext({"topic": "t", "group": "g", "timestamp": "1",
                                             "isForce": "maybe"})


@pytest.mark.parametrize("text,value", [("true", True), ("TRUE", True), ("1", True),
                                        ("false", False), ("False", False), ("0", False)])
def test_booleans(text, value):
    h = H.CreateTopicRequestHeader.from_ext({
        "topic": "t", "defaultTopic": "TBW102", "readQueueNums": "4", "writeQueueNums": 4,
        "perm": "6", "topicFilterType": "SINGLE_TAG", "order": text})
    assert h.order is value and h.topic_sys_flag is None
    assert h.to_ext()["order"] == ("true" if value else "false")


def test_register_broker_defaults_and_response():
    h = H.RegisterBrokerRequestHeader.from_ext({
        "brokerName": "b", "brokerAddr": "127.0.0.1:10911", "clusterName": "c",
        "haServerAddr": "127.0.0.1:10912", "brokerId": "0"})
    assert h.compressed is False and h.body_crc32 == 0
    r = H.RegisterBrokerResponseHeader(ha_server_addr="a:1", master_addr="a:2")
    assert r.to_ext() == {"haServerAddr": "a:1", "masterAddr": "a:2"}
    assert H.UnregisterClientRequestHeader(client_id="c").to_ext() == {"clientID": "c"}


ALL_HEADERS = [c for c in vars(H).values()
               if isinstance(c, type) and issubclass(c, H.Header) and c is not H.Header]
_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)


_NAME = st.from_regex(r"[%|a-zA-Z0-9_-]{1,20}", fullmatch=True)


def _value(cls, attr, base):
    if attr in name_fields(cls):
        return _NAME
    if base is int:
        return st.integers(*bounds(cls, attr))
    return {str: _text, bool: st.booleans()}[base]


@st.composite
def _any_header(draw):
    cls = draw(st.sampled_from(ALL_HEADERS))
    kwargs = {}
    for attr, _w, base, required in H._spec(cls):
        if required or draw(st.booleans()):
            kwargs[attr] = draw(_value(cls, attr, base))
    return cls(**kwargs)


@settings(max_examples=200, deadline=None)
@given(_any_header())
def test_header_round_trip_through_a_frame(hdr):
    cmd = request(1, hdr.to_ext())
    (back,) = FrameDecoder().feed(encode(cmd))
    got = type(hdr).from_ext(back.ext_fields)
    # an optional str set to "" is kept; other fields compare exactly
    assert got == hdr or all(
        getattr(got, f.name) == getattr(hdr, f.name) or getattr(hdr, f.name) == ""
        for f in dataclasses.fields(hdr))


def test_every_header_class_has_a_spec():
    assert len(ALL_HEADERS) >= 45
    for cls in ALL_HEADERS:
        assert H._spec(cls), cls


@pytest.mark.parametrize("value", ["2147483648", "-2147483649", "9" * 40, "1e3", "", " ",
                                   "0x10", "nan"])
def test_int32_field_out_of_range_or_not_a_number(value):
    with pytest.raises(RemoteProtocolError, match="queueId") as e:
        H.GetMaxOffsetRequestHeader.from_ext({"topic": "t", "queueId": value})
    assert e.value.response_code == ResponseCode.SYSTEM_ERROR and not e.value.fatal


@pytest.mark.parametrize("value", [str(2**63), str(-2**63 - 1), "9" * 5000])
def test_int64_field_out_of_range(value):
    with pytest.raises(RemoteProtocolError, match="offset"):
        H.ViewMessageRequestHeader.from_ext({"offset": value})
    assert H.ViewMessageRequestHeader.from_ext({"offset": str(2**63 - 1)}).offset == 2**63 - 1
    assert H.ViewMessageRequestHeader.from_ext({"offset": " -5 "}).offset == -5


def test_int_bounds_follow_java_types():
    assert bounds(H.PullMessageRequestHeader, "queue_id") == (-2**31, 2**31 - 1)
    assert bounds(H.PullMessageRequestHeader, "queue_offset") == (-2**63, 2**63 - 1)


def test_send_v2_and_batch_decoders_agree_with_v1():
    cmd, _ = _frame(4)
    hdr = H.SendMessageRequestHeader.from_command(cmd)
    v2 = hdr.to_ext_v2()
    assert H.SendMessageRequestHeader.from_command(request(RequestCode.SEND_MESSAGE_V2, v2)) == hdr
    no_batch = {k: v for k, v in v2.items() if k != "m"}
    got = H.SendMessageRequestHeader.from_command(request(RequestCode.SEND_BATCH_MESSAGE,
                                                          no_batch))
    assert got.batch is True and dataclasses.replace(got, batch=hdr.batch) == hdr
    with pytest.raises(RemoteProtocolError, match="<b>"):
        H.SendMessageRequestHeader.from_command(request(
            RequestCode.SEND_MESSAGE_V2, {k: v for k, v in v2.items() if k != "b"}))


HOSTILE = ["../x", "../../../../escaped", "a/b", "%DLQ%../T", "", " ", "x" * 300, "a\x00b",
           "a\ud800", "T\n", ".", "..", "a.b", "\u00e9t\u00e9"]


@pytest.mark.parametrize("cls", [c for c in ALL_HEADERS if name_fields(c)],
                         ids=lambda c: c.__name__)
def test_every_name_field_refuses_hostile_names(cls):
    good = {}
    for attr, wire, base, _req in H._spec(cls):
        good[wire] = "Good_1" if attr in name_fields(cls) else (
            "true" if base is bool else "1" if base is int else "v")
    assert cls.from_ext(good)  # the valid form decodes
    kinds = name_fields(cls)
    for attr, wire, _b, _r in H._spec(cls):
        if attr not in kinds:
            continue
        for bad in HOSTILE:
            if bad == "" and attr not in {a for a, _w, _b2, req in H._spec(cls) if req}:
                continue  # an optional name left empty is absent
            with pytest.raises(RemoteProtocolError) as e:
                cls.from_ext({**good, wire: bad})
            want = (ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST if kinds[attr] == "group"
                    else ResponseCode.TOPIC_NOT_EXIST if cls is H.GetRouteInfoRequestHeader
                    else ResponseCode.SYSTEM_ERROR)
            assert e.value.response_code == want and not e.value.fatal, (attr, bad)


def test_topic_length_limits():
    assert H.DeleteTopicRequestHeader.from_ext({"topic": "t" * 127}).topic == "t" * 127
    with pytest.raises(RemoteProtocolError, match="127"):
        H.DeleteTopicRequestHeader.from_ext({"topic": "t" * 128})
    assert H.DeleteSubscriptionGroupRequestHeader.from_ext({"groupName": "g" * 255})
    with pytest.raises(RemoteProtocolError, match="255"):
        H.DeleteSubscriptionGroupRequestHeader.from_ext({"groupName": "g" * 256})
