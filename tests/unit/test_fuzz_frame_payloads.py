"""Fuzz the payload decoders: records, batches, JSON bodies and typed headers either decode or
raise RemoteProtocolError, nothing else (frames themselves: tests/property/test_frame_fuzz.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from rmqtest.vectors import vector

from pyrmq.protocol import admin, headers, jsonx, route, stats
from pyrmq.protocol.bodies import parse_heartbeat, parse_register_broker_body
from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.frame import FrameDecoder
from pyrmq.protocol.message import decode_batch, decode_records


def _only_protocol_errors(fn, *args) -> None:
    try:
        fn(*args)
    except RemoteProtocolError:
        pass


def _pull_body() -> bytes:
    raw, _ = vector(31)
    return FrameDecoder().feed(raw)[0].body


PULL = _pull_body()


@settings(max_examples=200, deadline=None)
@given(pos=st.integers(0, len(PULL) - 1), byte=st.integers(0, 255), cut=st.integers(0, 400))
def test_mutated_pull_bodies(pos, byte, cut):
    data = bytearray(PULL)
    data[pos] = byte
    _only_protocol_errors(decode_records, bytes(data[:len(data) - cut]))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_random_records_and_batches(data):
    _only_protocol_errors(decode_records, data)
    _only_protocol_errors(decode_batch, data)


BODY_READERS = [route.TopicRouteData.from_json, route.ClusterInfo.from_json,
                route.TopicList.from_json, admin.ConsumerListBody.from_json,
                admin.LockBatchRequestBody.from_json, admin.LockBatchResponseBody.from_json,
                admin.ConsumerOffsetSerializeWrapper.from_json, admin.KVTable.from_json,
                admin.SubscriptionGroupConfig.from_json, admin.SubscriptionGroupWrapper.from_json,
                admin.ResetOffsetBody.from_json, admin.DataVersion.from_json, parse_heartbeat,
                parse_register_broker_body, jsonx.loads,
                stats.ConsumeStats.from_json, stats.TopicStatsTable.from_json]

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                     lambda kids: st.lists(kids, max_size=3)
                     | st.dictionaries(st.sampled_from(
                         ["topic", "brokerName", "queueId", "offsetTable", "table", "mqSet",
                          "queueDatas", "brokerDatas", "brokerAddrs", "groupName", "clientID",
                          "consumerDataSet", "topicList", "0"]), kids, max_size=4),
                     max_leaves=10)


@settings(max_examples=150, deadline=None)
@given(reader=st.sampled_from(BODY_READERS),
       raw=st.one_of(st.binary(max_size=80), _json.map(lambda o: jsonx.dumps(o))))
def test_body_readers(reader, raw):
    try:
        reader(raw)
    except RemoteProtocolError:
        pass
    except (AttributeError, TypeError, ValueError, KeyError) as e:
        # a wrong-typed JSON document is a protocol error too; record which reader let it out
        raise AssertionError(f"{reader.__qualname__} raised {e!r} for {raw!r}") from e


HEADER_CLASSES = [c for c in vars(headers).values()
                  if isinstance(c, type) and issubclass(c, headers.Header)
                  and c is not headers.Header]


@settings(max_examples=200, deadline=None)
@given(cls=st.sampled_from(HEADER_CLASSES),
       ext=st.dictionaries(st.sampled_from(["topic", "queueId", "consumerGroup", "offset",
                                            "brokerId", "order", "isForce", "msgId"]),
                           st.text(max_size=6), max_size=8))
def test_typed_headers(cls, ext):
    _only_protocol_errors(cls.from_ext, ext)
