"""The Java 4.9.8 admin bodies (tests/fixtures/java-forms) read by pyrmq's readers, pyrmq's
writers producing the same shape, the runtime-info value formats and the TPS sampler."""

from __future__ import annotations

import pytest
from rmqtest.forms import value_shape
from rmqtest.vectors import java_form

from pyrmq.broker.admin_stats import human_bytes, runtime_text
from pyrmq.broker.stats import BrokerStats
from pyrmq.protocol.admin import (
    ConsumeMessageDirectlyResult,
    ConsumerOffsetSerializeWrapper,
    KVTable,
    MessageQueue,
    ResetOffsetBody,
)
from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.stats import (
    ConsumerRunningInfo,
    ConsumeStats,
    ConsumeStatsList,
    TopicStatsTable,
    loads_mq_keyed,
)

MQ = MessageQueue("JavaFormT", "anchor-broker-a", 1)


def test_topic_stats_fixture_read_and_rewritten_in_the_same_shape():
    raw = java_form(2)[0]
    ts = TopicStatsTable.from_json(raw)
    assert len(ts.offset_table) == 4 and ts.offset_table[MQ].max_offset == 2
    assert ts.offset_table[MQ].last_update_timestamp == 1796194515926
    out = ts.to_json()
    assert out.startswith(b'{"offsetTable":{{"brokerName":"anchor-broker-a","queueId":0,')
    assert loads_mq_keyed(out) == loads_mq_keyed(raw)


def test_consume_stats_fixture_read_and_rewritten_in_the_same_shape():
    raw = java_form(3)[0]
    cs = ConsumeStats.from_json(raw)
    assert cs.consume_tps == 0.0 and cs.diff_total == 0
    assert cs.offset_table[MQ].consumer_offset == 2
    assert loads_mq_keyed(cs.to_json()) == loads_mq_keyed(raw)


def test_broker_consume_stats_fixture():
    raw = java_form(4)[0]
    body = ConsumeStatsList.from_json(raw)
    assert body.broker_addr == "127.0.0.1:19911" and body.total_diff == 0
    groups = dict(body.groups)
    assert groups["TOOLS_CONSUMER"] == [] and len(groups["JavaFormG"]) == 1
    assert groups["JavaFormG"][0].offset_table[MQ].broker_offset == 2
    assert loads_mq_keyed(body.to_json()) == loads_mq_keyed(raw)
    assert [g for g, _ in body.groups] == [g for g, _ in ConsumeStatsList.from_json(
        body.to_json()).groups]  # list order kept


def test_reset_offset_fixture_both_forms():
    raw = java_form(5)[0]
    body = ResetOffsetBody.from_json(raw)
    assert body.offset_table == {MessageQueue("JavaFormT", "anchor-broker-a", q): 1
                                 for q in range(4)}
    assert loads_mq_keyed(body.to_java_json()) == loads_mq_keyed(raw)
    assert ResetOffsetBody.from_json(body.to_wheel_json()) == body


def test_all_consumer_offset_fixture_bare_integer_keys():
    body = ConsumerOffsetSerializeWrapper.from_json(java_form(9)[0])
    assert body.offset_table == {"JavaFormT@JavaFormG": {0: 2, 1: 2, 2: 2, 3: 2}}


def test_mq_keyed_garbage_is_a_protocol_error():
    for bad in (b"\xff", b'{"offsetTable":{{"topic":"T"}:{"minOffset":1}}}',
                b'{"offsetTable":[1,2]}', b'{"offsetTable":{{"brokerName":"b"'):
        with pytest.raises(RemoteProtocolError):
            TopicStatsTable.from_json(bad)
    with pytest.raises(RemoteProtocolError):
        ConsumeStatsList.from_json(b'{"consumeStatsList":[1]}')


def test_runtime_info_value_formats_match_java():
    java = KVTable.from_json(java_form(1)[0]).table
    assert human_bytes(1536) == java["remainHowManyDataToFlush"] == "1.5 KiB"
    assert human_bytes(900) == "900 B" and human_bytes(252 * 1024**3) == "252.0 GiB"
    assert runtime_text(15) == java["runtime"]
    assert runtime_text(90061) == "[ 1 days, 1 hours, 1 minutes, 1 seconds ]"
    assert {value_shape(java[k]) for k in ("putTps", "getFoundTps", "getTotalTps")} == {"tps"}
    assert value_shape(java["commitLogDirCapacity"]) == "capacity"
    assert value_shape(java["putMessageDistributeTime"]) == "null"


def test_tps_windows_from_per_second_samples():
    st = BrokerStats()
    assert st.tps_text("put") == "0.0  "  # no history: Java's empty longer windows
    assert st.tps_text("found", zero_missing=True) == "0.0 0.0 0.0"
    t0 = 1_000_000.0
    for s in range(0, 60):
        st.put("T", 2, 20)  # 2 messages a second
        st.sample(t0 + s)
    assert st.tps("put", 10) == 2.0 and st.tps("put", 60) is None  # 60 samples: under a minute
    st.put("T", 2, 20)
    st.sample(t0 + 60)
    assert st.tps_text("put") == "2.0 2.0 "
    assert st.put_count == 122 and st.put_bytes == 1220
    st.get("T", 3)
    st.sample(t0 + 61)
    assert st.tps("get", 10) == pytest.approx(0.3) and st.tps("found", 10) == pytest.approx(0.1)


def test_day_roll_keeps_this_and_last_morning():
    import time as _t
    st = BrokerStats()
    noon = _t.mktime((2026, 12, 1, 12, 0, 0, 0, 0, -1))
    st.sample(noon)
    st.put("T", 5, 50)
    st.sample(noon + 86400)  # next day: this morning's total is 5
    assert (st.put_today_morning, st.put_yesterday_morning) == (5, 0)
    st.put("T", 1, 10)
    st.sample(noon + 2 * 86400)
    assert (st.put_today_morning, st.put_yesterday_morning) == (6, 5)


def test_consumer_running_info_and_direct_result_round_trip():
    info = ConsumerRunningInfo({"PROP_CONSUME_TYPE": "CONSUME_PASSIVELY"},
                               [{"topic": "T", "subString": "*"}],
                               {MessageQueue("T", "b", 0): {"commitOffset": 3, "locked": False}},
                               {"T": {"pullTPS": 0.0}})
    raw = info.to_json()
    assert b'"mqTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"commitOffset":3' in raw
    assert ConsumerRunningInfo.from_json(raw) == info
    res = ConsumeMessageDirectlyResult("CR_THROW_EXCEPTION", False, True, "boom", 7)
    assert ConsumeMessageDirectlyResult.from_json(res.to_json()) == res
    with pytest.raises(RemoteProtocolError):
        ConsumeMessageDirectlyResult.from_json(b'{"consumeResult":"CR_MAYBE"}')
    with pytest.raises(RemoteProtocolError):
        ConsumerRunningInfo.from_json(b'{"mqTable":[1]}')


def test_running_info_with_pretty_printed_keys_as_the_cpp_client_writes():
    # jsoncpp's toStyledString() keys and values, spliced in after the first "{"
    raw = ('{"mqTable":{{\n   "brokerName" : "b",\n   "queueId" : 2,\n   "topic" : "T"\n}:'
           '{\n   "commitOffset" : 5\n}},"jstack":"","properties":{"PROP_CONSUME_TYPE":'
           '"CONSUME_PASSIVELY"},"subscriptionSet":[{"topic":"T"}]}\n')
    info = ConsumerRunningInfo.from_json(raw)
    assert info.mq_table == {MessageQueue("T", "b", 2): {"commitOffset": 5}}
    assert info.properties["PROP_CONSUME_TYPE"] == "CONSUME_PASSIVELY"
    with pytest.raises(RemoteProtocolError):  # its form when it owns no queue
        ConsumerRunningInfo.from_json('{"mqTable":},"jstack":""}')
