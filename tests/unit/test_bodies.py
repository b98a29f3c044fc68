"""JSON bodies against the captured frames; both key forms; round trips."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from rmqtest.vectors import vector

from pyrmq.protocol import jsonx
from pyrmq.protocol.admin import (
    ConsumerListBody,
    ConsumerOffsetSerializeWrapper,
    DataVersion,
    KVTable,
    LockBatchRequestBody,
    LockBatchResponseBody,
    MessageQueue,
    ResetOffsetBody,
    SubscriptionGroupConfig,
    SubscriptionGroupWrapper,
)
from pyrmq.protocol.bodies import (
    TopicConfig,
    encode_register_broker_body_compressed,
    parse_heartbeat,
    parse_register_broker_body,
    register_broker_body,
)
from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.frame import FrameDecoder
from pyrmq.protocol.message import java_hash
from pyrmq.protocol.route import BrokerData, ClusterInfo, QueueData, TopicList, TopicRouteData


def _body(num: int) -> bytes:
    raw, _desc = vector(num)
    (cmd,) = FrameDecoder().feed(raw)
    return cmd.body


@pytest.mark.parametrize("num", [26, 27])
def test_route_vectors_both_key_forms(num):
    body = _body(num)
    route = TopicRouteData.from_json(body)
    assert route.broker_datas[0].broker_addrs[0].startswith("127.0.0.1:")
    assert route.queue_datas[0] == QueueData("broker-a", 4, 4, 6, 0)
    assert json.loads(route.to_json()) == jsonx.loads(body)  # our output is standard JSON
    assert b'"0":' in route.to_json() and b"orderTopicConf" not in route.to_json()


def test_route_order_conf_only_when_set():
    r = TopicRouteData([QueueData("b", 2, 2, 6)], [BrokerData("c", "b", {0: "a:1", 1: "a:2"})],
                       order_topic_conf="b:2")
    back = TopicRouteData.from_json(r.to_json())
    assert back == r and json.loads(r.to_json())["orderTopicConf"] == "b:2"


def test_route_reads_old_topic_syn_flag():
    raw = b'{"queueDatas":[{"brokerName":"b","readQueueNums":1,"writeQueueNums":1,"perm":6,' \
          b'"topicSynFlag":3}],"brokerDatas":[]}'
    assert TopicRouteData.from_json(raw).queue_datas[0].topic_sys_flag == 3


def test_cluster_info_and_topic_list():
    ci = ClusterInfo({"b": BrokerData("c", "b", {0: "h:1"})}, {"c": ["b"]})
    assert ClusterInfo.from_json(ci.to_json()) == ci
    assert ClusterInfo.from_json(b'{"brokerAddrTable":{"b":{"brokerAddrs":{0:"h:1"},'
                                 b'"brokerName":"b","cluster":"c"}},"clusterAddrTable":'
                                 b'{"c":["b"]}}') == ci
    tl = TopicList(["b", "a"])
    assert json.loads(tl.to_json()) == {"topicList": ["a", "b"]}
    assert TopicList.from_json(tl.to_json()).topic_list == ["a", "b"]


def test_lock_bodies_from_vectors():
    req = LockBatchRequestBody.from_json(_body(23))
    assert req.consumer_group == "CG_ORD" and req.client_id.endswith("@DEFAULT")
    assert req.mq_set == [MessageQueue("%RETRY%CG_ORD", "broker-a", 0)]
    unlock = LockBatchRequestBody.from_json(_body(24))
    assert len(unlock.mq_set) > 1
    resp = LockBatchResponseBody(req.mq_set)
    assert json.loads(resp.to_json()) == json.loads(_body(38))
    assert LockBatchRequestBody.from_json(req.to_json()) == req


def test_consumer_list_vector():
    body = _body(37)
    cl = ConsumerListBody.from_json(body)
    assert cl.consumer_id_list == ["8580-127.0.0.1@DEFAULT"]
    assert json.loads(cl.to_json()) == json.loads(body)


@pytest.mark.parametrize("num", [10, 11, 12])
def test_heartbeat_vectors(num):
    hb = parse_heartbeat(_body(num))
    assert hb.client_id.endswith("@DEFAULT")
    again = parse_heartbeat(hb.to_json())
    assert again == hb
    for c in hb.consumers:
        assert c.consume_type in ("CONSUME_ACTIVELY", "CONSUME_PASSIVELY")
        for s in c.subscriptions:
            assert s.code_set == {java_hash(t) for t in s.tags}


def test_heartbeat_push_consumer_values():
    hb = parse_heartbeat(_body(11))
    (c,) = hb.consumers
    assert (c.group, c.consume_type, c.message_model, c.consume_from_where) == (
        "CG_CAP", "CONSUME_PASSIVELY", "CLUSTERING", "CONSUME_FROM_LAST_OFFSET")
    tagged = [s for s in c.subscriptions if s.topic == "CapTopic"][0]
    assert tagged.tags == ["TagA", "TagB"] and tagged.sub_version == 1795518973597
    out = json.loads(hb.to_json())["consumerDataSet"][0]
    assert out["consumeType"] == "CONSUME_PASSIVELY" and out["messageModel"] == "CLUSTERING"


def test_consumer_offsets_fastjson_pretty_file():
    text = ('{\n\t"offsetTable":{\n\t\t"TopicTest@g4":{0:0,1:1,2:0,3:0\n\t\t},\n'
            '\t\t"%RETRY%g4@g4":{0:0\n\t\t}\n\t}\n}')
    w = ConsumerOffsetSerializeWrapper.from_json(text)
    assert w.offset_table == {"TopicTest@g4": {0: 0, 1: 1, 2: 0, 3: 0}, "%RETRY%g4@g4": {0: 0}}
    assert ConsumerOffsetSerializeWrapper.from_json(w.to_json()) == w


def test_jsonx_leaves_strings_alone():
    assert jsonx.loads(b'{"a":"{0:1}",0:"x,1:"}') == {"a": "{0:1}", "0": "x,1:"}
    with pytest.raises(RemoteProtocolError):
        jsonx.loads(b"{nope")


def test_kv_table_and_data_version():
    kv = KVTable({"a": "1"})
    assert kv.to_json() == b'{"table":{"a":"1"}}' and KVTable.from_json(kv.to_json()) == kv
    dv = DataVersion(123, 4)
    assert DataVersion.from_json(dv.to_json()) == dv


def test_subscription_group_config():
    raw = (b'{"brokerId":0,"consumeBroadcastEnable":true,"consumeEnable":true,'
           b'"consumeFromMinEnable":true,"groupName":"g","notifyConsumerIdsChangedEnable":true,'
           b'"retryMaxTimes":16,"retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1}')
    sg = SubscriptionGroupConfig.from_json(raw)
    assert sg == SubscriptionGroupConfig("g")
    assert json.loads(sg.to_json()) == json.loads(raw)
    w = SubscriptionGroupWrapper({"g": sg}, DataVersion(1, 2))
    assert SubscriptionGroupWrapper.from_json(w.to_json()) == w
    with pytest.raises(RemoteProtocolError):
        SubscriptionGroupConfig.from_json(b'{"retryMaxTimes":1}')


def test_reset_offset_both_forms():
    body = ResetOffsetBody({MessageQueue("t", "b", 0): 10, MessageQueue("t", "b", 1): 20})
    java = body.to_java_json()
    assert java.startswith(b'{"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:10,')
    assert ResetOffsetBody.from_json(java) == body
    wheel = json.loads(body.to_wheel_json())
    assert wheel["offsetTable"][1] == {"brokerName": "b", "queueId": 1, "topic": "t",
                                       "offset": 20}
    assert ResetOffsetBody.from_json(body.to_wheel_json()) == body


def test_register_broker_body_both_forms():
    topics = {"T": TopicConfig("T", 4, 4, 6), "U": TopicConfig("U", 8, 2, 7, "MULTI_TAG")}
    version = {"counter": 3, "timestamp": 99}
    assert parse_register_broker_body(register_broker_body(topics, version)) == (version, topics)
    comp = encode_register_broker_body_compressed(topics, version)
    assert parse_register_broker_body(comp, compressed=True) == (version, topics)
    with pytest.raises(RemoteProtocolError):
        parse_register_broker_body(comp[:-3], compressed=True)


_name = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=10)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(_name, st.integers(0, 64), st.integers(0, 64), st.integers(0, 7)),
                max_size=4),
       st.dictionaries(st.integers(0, 3), _name, max_size=3))
def test_route_round_trip(queues, addrs):
    r = TopicRouteData([QueueData(b, rq, wq, p) for b, rq, wq, p in queues],
                       [BrokerData("c", b, addrs) for b, *_ in queues])
    assert TopicRouteData.from_json(r.to_json()) == r


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(_name, st.dictionaries(st.integers(0, 1000),
                                              st.integers(-1, 2**62), max_size=4), max_size=4))
def test_offsets_round_trip(table):
    w = ConsumerOffsetSerializeWrapper(table)
    assert ConsumerOffsetSerializeWrapper.from_json(w.to_json()) == w
