"""Bad input to a broker process gets an error response (or, when framing is lost, a closed
connection) and the broker keeps serving."""

from __future__ import annotations

import socket
import struct

import pytest
from rmqtest.cluster import running_cluster

from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import request


@pytest.fixture
def cluster(tmp_path):
    with running_cluster(tmp_path, "--set", "maxMessageSize=65536") as c:
        yield c


def _send_fields(topic: str, **kw) -> dict:
    base = {"producerGroup": "PG", "topic": topic, "defaultTopic": "TBW102",
            "defaultTopicQueueNums": 4, "queueId": 0, "sysFlag": 0, "bornTimestamp": 1,
            "flag": 0, "properties": "", "reconsumeTimes": 0, "unitMode": False,
            "batch": False}
    base.update(kw)
    return base


def test_bad_requests_get_error_codes(cluster):
    ok = cluster.invoke(request(RequestCode.SEND_MESSAGE, _send_fields("Good"), b"x"))
    assert ok.code == ResponseCode.SUCCESS
    big = cluster.invoke(request(RequestCode.SEND_MESSAGE, _send_fields("Good"), b"x" * 70000))
    assert big.code == ResponseCode.MESSAGE_ILLEGAL
    bad_topic = cluster.invoke(request(RequestCode.SEND_MESSAGE, _send_fields("bad topic!"),
                                       b"x"))
    assert bad_topic.code == ResponseCode.SYSTEM_ERROR and "illegal" in bad_topic.remark
    sched = cluster.invoke(request(RequestCode.SEND_MESSAGE,
                                   _send_fields("SCHEDULE_TOPIC_XXXX"), b"x"))
    assert sched.code == ResponseCode.NO_PERMISSION
    bad_q = cluster.invoke(request(RequestCode.SEND_MESSAGE, _send_fields("Good", queueId=99),
                                   b"x"))
    assert bad_q.code == ResponseCode.SYSTEM_ERROR and "queueId" in bad_q.remark
    missing = cluster.invoke(request(RequestCode.PULL_MESSAGE, {"topic": "Good"}))
    assert missing.code == ResponseCode.SYSTEM_ERROR and "consumerGroup" in missing.remark
    not_num = cluster.invoke(request(RequestCode.GET_MAX_OFFSET, {"topic": "Good",
                                                                  "queueId": "zero"}))
    assert not_num.code == ResponseCode.SYSTEM_ERROR and "queueId" in not_num.remark
    unknown = cluster.invoke(request(4242))
    assert unknown.code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED
    junk_body = cluster.invoke(request(RequestCode.HEART_BEAT, None, b"{not json"))
    assert junk_body.code != ResponseCode.SUCCESS
    batch = cluster.invoke(request(RequestCode.SEND_MESSAGE, _send_fields("Good", batch=True),
                                   b"\x00\x00\x00\x30garbage"))
    assert batch.code == ResponseCode.MESSAGE_ILLEGAL
    # still serving
    again = cluster.invoke(request(RequestCode.SEND_MESSAGE, _send_fields("Good"), b"y"))
    assert again.code == ResponseCode.SUCCESS and again.ext_fields["queueOffset"] == "1"


def test_garbage_frames_close_only_that_connection(cluster):
    host, port = cluster.broker_addr.split(":")
    for junk in (b"\xff" * 64, struct.pack(">II", 100, 0x7F000010) + b"x" * 100,
                 struct.pack(">II", 20, 16) + b"{this is not json"):
        with socket.create_connection((host, int(port)), 5) as s:
            s.sendall(junk)
            s.settimeout(5)
            assert s.recv(100) == b""  # framing lost: closed
    r = cluster.invoke(request(RequestCode.GET_BROKER_RUNTIME_INFO))
    assert r.code == ResponseCode.SUCCESS
    assert "framing lost" in cluster.broker.log()

    # a connection stuck on a half-written frame does not block other clients
    with socket.create_connection((host, int(port)), 5) as stuck:
        stuck.sendall(struct.pack(">I", 1000) + b"partial")
        r2 = cluster.invoke(request(RequestCode.GET_BROKER_RUNTIME_INFO))
        assert r2.code == ResponseCode.SUCCESS
