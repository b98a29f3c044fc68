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


def _raw_call(addr: str, header: bytes, body: bytes = b"", timeout: float = 5.0):
    """Send one hand-made frame; the decoded response, or None when the broker closed."""
    from pyrmq.protocol.frame import FrameDecoder

    host, port = addr.split(":")
    with socket.create_connection((host, int(port)), timeout) as s:
        s.settimeout(timeout)
        s.sendall(struct.pack(">II", 4 + len(header) + len(body), len(header)) + header + body)
        dec = FrameDecoder()
        while True:
            data = s.recv(65536)
            if not data:
                return None
            got = dec.feed(data)
            if got:
                return got[0]


@pytest.mark.parametrize("ext", ['{"topic": "Good", "queueId": Infinity}',
                                 '{"topic": "Good", "queueId": NaN}',
                                 '{"topic": "Good", "queueId": 1e400}',
                                 '{"topic": "G\\ud800", "queueId": 0}'])
def test_hostile_json_values_get_an_error_response(cluster, ext):
    header = f'{{"code": 30, "opaque": 42, "flag": 0, "extFields": {ext}}}'.encode()
    r = _raw_call(cluster.broker_addr, header)
    assert r is not None and r.opaque == 42 and r.code == ResponseCode.SYSTEM_ERROR


def test_handlers_answer_edge_cases_without_tracebacks(cluster):
    huge = str(2**70)
    cases = [
        (request(RequestCode.DELETE_TOPIC_IN_BROKER, {"topic": ""}), ResponseCode.SYSTEM_ERROR),
        (request(RequestCode.LOCK_BATCH_MQ, None, b'{"consumerGroup": "G", "mqSet": [{}]}'),
         ResponseCode.SYSTEM_ERROR),
        (request(RequestCode.UNLOCK_BATCH_MQ, None, b'{"mqSet": [{"topic": "T"}]}'),
         ResponseCode.SYSTEM_ERROR),
        (request(RequestCode.GET_MIN_OFFSET, {"topic": "Good", "queueId": huge}),
         ResponseCode.SYSTEM_ERROR),
        (request(RequestCode.GET_MAX_OFFSET, {"topic": "Good", "queueId": huge}),
         ResponseCode.SYSTEM_ERROR),
        (request(RequestCode.VIEW_MESSAGE_BY_ID, {"offset": huge}), ResponseCode.SYSTEM_ERROR),
        (request(RequestCode.VIEW_MESSAGE_BY_ID, {"offset": "-1"}), ResponseCode.SYSTEM_ERROR),
        (request(RequestCode.QUERY_MESSAGE, {"topic": "Good", "key": "k", "maxNum": 2**31 - 1,
                                             "beginTimestamp": 0, "endTimestamp": 2**62}),
         ResponseCode.QUERY_NOT_FOUND),
        (request(RequestCode.PULL_MESSAGE, {
            "consumerGroup": "G", "topic": "Good", "queueId": 0, "queueOffset": huge,
            "maxMsgNums": 32, "sysFlag": 0, "commitOffset": 0, "suspendTimeoutMillis": 0,
            "subVersion": 0}), ResponseCode.SYSTEM_ERROR),
    ]
    for cmd, want in cases:
        r = cluster.invoke(cmd)
        assert r.code == want, (cmd.code, r.code, r.remark)
    deep = b'{"code": 30, "opaque": 1, "extFields": ' + b"[" * 100_000
    assert _raw_call(cluster.broker_addr, deep) is None  # unreadable: closed
    ok = cluster.invoke(request(RequestCode.GET_BROKER_RUNTIME_INFO))
    assert ok.code == ResponseCode.SUCCESS
    log = cluster.broker.log()
    assert "Traceback" not in log and "Fatal error" not in log
