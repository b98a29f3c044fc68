"""MessageQueue-keyed admin bodies, broker config text, TopicConfig text form."""

from __future__ import annotations

import pytest

from pyrmq.protocol.admin import MessageQueue
from pyrmq.protocol.bodies import TopicConfig
from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.headers import QueryDataVersionResponseHeader
from pyrmq.protocol.stats import (
    ConsumeStats,
    OffsetWrapper,
    TopicOffset,
    TopicStatsTable,
    properties_from_text,
    properties_to_text,
)

MQ0, MQ1 = MessageQueue("T", "b", 0), MessageQueue("T", "b", 1)


def test_consume_stats_java_form_round_trip():
    cs = ConsumeStats({MQ0: OffsetWrapper(10, 7, 123), MQ1: OffsetWrapper(3, 3, 0)}, 1.5)
    raw = cs.to_json()
    assert raw.startswith(b'{"consumeTps":1.5,"offsetTable":{{"brokerName":"b","queueId":0,'
                          b'"topic":"T"}:{"brokerOffset":10,')
    assert ConsumeStats.from_json(raw) == cs


def test_topic_stats_round_trip_and_garbage():
    ts = TopicStatsTable({MQ1: TopicOffset(0, 42, 99)})
    assert TopicStatsTable.from_json(ts.to_json()) == ts
    assert TopicStatsTable.from_json(b'{"offsetTable":{}}') == TopicStatsTable()
    with pytest.raises(RemoteProtocolError):
        TopicStatsTable.from_json(b"\xff\xfe")
    with pytest.raises(RemoteProtocolError):
        TopicStatsTable.from_json(b'{"offsetTable":{{"topic":"T"}:{"minOffset":1}}}')


def test_broker_config_text():
    props = {"brokerName": "broker-a", "flushDiskType": "ASYNC_FLUSH", "listenPort": "10911"}
    text = properties_to_text(props)
    assert text.startswith(b"brokerName=broker-a\n")
    assert properties_from_text(text) == props
    assert properties_from_text("# c\n! c\n a = 1\nb:2\nc\n") == {"a": "1", "b": "2", "c": ""}


def test_topic_config_text_form():
    tc = TopicConfig("T", 8, 4, 6, "MULTI_TAG")
    assert tc.encode() == "T 8 4 6 MULTI_TAG"
    assert TopicConfig.decode(tc.encode()) == tc
    with pytest.raises(RemoteProtocolError):
        TopicConfig.decode("T x")


def test_query_data_version_response():
    assert QueryDataVersionResponseHeader.from_ext({"changed": "true"}).changed is True
    assert QueryDataVersionResponseHeader(False).to_ext() == {"changed": "false"}
