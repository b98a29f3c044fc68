"""Hostile topic and group names (issue 13.1) sent to a real broker process for every request
code that carries a topic or a group: each is answered with an error, nothing is created
outside the store root (or anywhere, under any name carrying the marker), no other topic's
consume-queue file changes, and the broker still serves sends and pulls afterwards.

Requests are framed by hand (JSON with ``ensure_ascii``) so names our own encoder would refuse
(lone surrogates) reach the broker as a hostile client would send them."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from rmqtest.cluster import running_cluster

from pyrmq.protocol.codes import PullSysFlag, RequestCode, ResponseCode
from pyrmq.protocol.command import RemotingCommand
from pyrmq.protocol.frame import FrameDecoder
from pyrmq.protocol.message import decode_records, parse_offset_msg_id

MARK = "pwnd"
HOSTILE = [f"../{MARK}1", f"../../../../{MARK}2", f"a/{MARK}3", f"%DLQ%../{MARK}4",
           f"%RETRY%../../{MARK}5", "", MARK + "x" * 300, f"{MARK}\x00x", f"{MARK}\ud800",
           f"{MARK}\n", "..", ".", f"/tmp/{MARK}6", f"{MARK}.7", "../Victim"]
GOOD_TOPIC, GOOD_GROUP, VICTIM = "GoodTopic", "GoodGroup", "Victim"


class RawClient:
    """One socket, frames built by hand (surrogates escaped), responses decoded by pyrmq."""

    def __init__(self, addr: str) -> None:
        host, port = addr.split(":")
        self.addr = (host, int(port))
        self.sock: socket.socket | None = None
        self.opaque = 0

    def call(self, code: int, ext: dict | None = None, body: bytes = b"") -> RemotingCommand:
        for _attempt in range(2):  # reconnect once if the broker closed the connection
            if self.sock is None:
                self.sock = socket.create_connection(self.addr, 5)
                self.sock.settimeout(10)
            self.opaque += 1
            header = json.dumps({"code": code, "opaque": self.opaque, "flag": 0,
                                 "language": "JAVA", "version": 409, "serializeTypeCurrentRPC":
                                 "JSON", "extFields": {k: str(v) for k, v in
                                                       (ext or {}).items()}},
                                ensure_ascii=True).encode()
            frame = struct.pack(">II", 4 + len(header) + len(body), len(header)) + header + body
            dec = FrameDecoder()
            try:
                self.sock.sendall(frame)
                while True:
                    data = self.sock.recv(65536)
                    if not data:
                        raise ConnectionError("closed")
                    got = dec.feed(data)
                    if got:
                        return got[0]
            except (ConnectionError, OSError):
                self.sock.close()
                self.sock = None
        raise AssertionError(f"code {code}: connection closed twice")

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()


def _body(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=True).encode()


def _send(topic=GOOD_TOPIC, group="PG", props="") -> dict:
    return {"producerGroup": group, "topic": topic, "defaultTopic": "TBW102",
            "defaultTopicQueueNums": 4, "queueId": 0, "sysFlag": 0, "bornTimestamp": 1,
            "flag": 0, "properties": props, "reconsumeTimes": 0, "unitMode": "false",
            "batch": "false"}


def _v2(fields: dict) -> dict:
    letters = {"producerGroup": "a", "topic": "b", "defaultTopic": "c",
               "defaultTopicQueueNums": "d", "queueId": "e", "sysFlag": "f",
               "bornTimestamp": "g", "flag": "h", "properties": "i", "reconsumeTimes": "j",
               "unitMode": "k", "batch": "m"}
    return {letters[k]: v for k, v in fields.items()}


def _pull(topic=GOOD_TOPIC, group=GOOD_GROUP) -> dict:
    return {"consumerGroup": group, "topic": topic, "queueId": 0, "queueOffset": 0,
            "maxMsgNums": 32, "sysFlag": PullSysFlag.SUBSCRIPTION, "commitOffset": 0,
            "suspendTimeoutMillis": 0, "subscription": "*", "subVersion": 0}


def _heartbeat(group=GOOD_GROUP, topic=GOOD_TOPIC, producer="PG") -> bytes:
    return _body({"clientID": "hostile@1", "producerDataSet": [{"groupName": producer}],
                  "consumerDataSet": [{"groupName": group, "consumeType": "CONSUME_PASSIVELY",
                                       "messageModel": "CLUSTERING",
                                       "consumeFromWhere": "CONSUME_FROM_LAST_OFFSET",
                                       "subscriptionDataSet": [{"topic": topic,
                                                                "subString": "*"}]}]})


def _lock(group=GOOD_GROUP, topic=GOOD_TOPIC) -> bytes:
    return _body({"consumerGroup": group, "clientId": "hostile@1",
                  "mqSet": [{"topic": topic, "brokerName": "broker-a", "queueId": 0}]})


def _cases(phys: int) -> list[tuple[str, int, Callable[[str], tuple[dict | None, bytes]], bool]]:
    """(label, code, name -> (extFields, body), empty-name-is-absent)."""
    RC = RequestCode
    back = {"offset": phys, "group": GOOD_GROUP, "delayLevel": 0, "originMsgId": "",
            "originTopic": GOOD_TOPIC, "unitMode": "false", "maxReconsumeTimes": 16}
    return [
        ("send topic", RC.SEND_MESSAGE, lambda n: (_send(topic=n), b"x"), False),
        ("send producerGroup", RC.SEND_MESSAGE, lambda n: (_send(group=n), b"x"), False),
        ("send defaultTopic", RC.SEND_MESSAGE,
         lambda n: ({**_send(topic="NewTopicX"), "defaultTopic": n}, b"x"), False),
        ("send v2 topic", RC.SEND_MESSAGE_V2, lambda n: (_v2(_send(topic=n)), b"x"), False),
        ("send batch topic", RC.SEND_BATCH_MESSAGE,
         lambda n: (_v2(_send(topic=n)), b"x"), False),
        ("pull topic", RC.PULL_MESSAGE, lambda n: (_pull(topic=n), b""), False),
        ("pull group", RC.PULL_MESSAGE, lambda n: (_pull(group=n), b""), False),
        ("heartbeat group", RC.HEART_BEAT, lambda n: (None, _heartbeat(group=n)), True),
        ("heartbeat topic", RC.HEART_BEAT, lambda n: (None, _heartbeat(topic=n)), False),
        ("heartbeat producer", RC.HEART_BEAT, lambda n: (None, _heartbeat(producer=n)), True),
        ("unregister consumer", RC.UNREGISTER_CLIENT,
         lambda n: ({"clientID": "c", "consumerGroup": n}, b""), True),
        ("unregister producer", RC.UNREGISTER_CLIENT,
         lambda n: ({"clientID": "c", "producerGroup": n}, b""), True),
        ("consumer list", RC.GET_CONSUMER_LIST_BY_GROUP, lambda n: ({"consumerGroup": n}, b""),
         False),
        ("query offset group", RC.QUERY_CONSUMER_OFFSET,
         lambda n: ({"consumerGroup": n, "topic": GOOD_TOPIC, "queueId": 0}, b""), False),
        ("query offset topic", RC.QUERY_CONSUMER_OFFSET,
         lambda n: ({"consumerGroup": GOOD_GROUP, "topic": n, "queueId": 0}, b""), False),
        ("update offset group", RC.UPDATE_CONSUMER_OFFSET,
         lambda n: ({"consumerGroup": n, "topic": GOOD_TOPIC, "queueId": 0,
                     "commitOffset": 1}, b""), False),
        ("update offset topic", RC.UPDATE_CONSUMER_OFFSET,
         lambda n: ({"consumerGroup": GOOD_GROUP, "topic": n, "queueId": 0,
                     "commitOffset": 1}, b""), False),
        ("max offset", RC.GET_MAX_OFFSET, lambda n: ({"topic": n, "queueId": 0}, b""), False),
        ("min offset", RC.GET_MIN_OFFSET, lambda n: ({"topic": n, "queueId": 0}, b""), False),
        ("search offset", RC.SEARCH_OFFSET_BY_TIMESTAMP,
         lambda n: ({"topic": n, "queueId": 0, "timestamp": 0}, b""), False),
        ("earliest time", RC.GET_EARLIEST_MSG_STORETIME,
         lambda n: ({"topic": n, "queueId": 0}, b""), False),
        ("send back dlq -1", RC.CONSUMER_SEND_MSG_BACK,
         lambda n: ({**back, "group": n, "delayLevel": -1}, b""), False),
        ("send back retry 0", RC.CONSUMER_SEND_MSG_BACK,
         lambda n: ({**back, "group": n, "delayLevel": 0}, b""), False),
        ("send back level 3", RC.CONSUMER_SEND_MSG_BACK,
         lambda n: ({**back, "group": n, "delayLevel": 3}, b""), False),
        ("send back originTopic", RC.CONSUMER_SEND_MSG_BACK,
         lambda n: ({**back, "originTopic": n}, b""), True),
        ("end transaction", RC.END_TRANSACTION,
         lambda n: ({"producerGroup": n, "tranStateTableOffset": 0, "commitLogOffset": phys,
                     "commitOrRollback": 8, "msgId": "m"}, b""), False),
        ("lock group", RC.LOCK_BATCH_MQ, lambda n: (None, _lock(group=n)), False),
        ("lock topic", RC.LOCK_BATCH_MQ, lambda n: (None, _lock(topic=n)), False),
        ("unlock group", RC.UNLOCK_BATCH_MQ, lambda n: (None, _lock(group=n)), False),
        ("unlock topic", RC.UNLOCK_BATCH_MQ, lambda n: (None, _lock(topic=n)), False),
        ("create topic", RC.UPDATE_AND_CREATE_TOPIC,
         lambda n: ({"topic": n, "defaultTopic": "TBW102", "readQueueNums": 1,
                     "writeQueueNums": 1, "perm": 6, "topicFilterType": "SINGLE_TAG",
                     "order": "false"}, b""), False),
        ("delete topic", RC.DELETE_TOPIC_IN_BROKER, lambda n: ({"topic": n}, b""), False),
        ("create group", RC.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
         lambda n: (None, _body({"groupName": n})), False),
        ("delete group", RC.DELETE_SUBSCRIPTIONGROUP, lambda n: ({"groupName": n}, b""), False),
        ("query message", RC.QUERY_MESSAGE,
         lambda n: ({"topic": n, "key": "k", "maxNum": 32, "beginTimestamp": 0,
                     "endTimestamp": 2**62}, b""), False),
        ("topic stats", RC.GET_TOPIC_STATS_INFO, lambda n: ({"topic": n}, b""), False),
        ("consume stats group", RC.GET_CONSUME_STATS, lambda n: ({"consumerGroup": n}, b""),
         False),
        ("consume stats topic", RC.GET_CONSUME_STATS,
         lambda n: ({"consumerGroup": GOOD_GROUP, "topic": n}, b""), True),
        ("consumer connections", RC.GET_CONSUMER_CONNECTION_LIST,
         lambda n: ({"consumerGroup": n}, b""), False),
        ("producer connections", RC.GET_PRODUCER_CONNECTION_LIST,
         lambda n: ({"producerGroup": n}, b""), False),
        ("reset offset topic", RC.INVOKE_BROKER_TO_RESET_OFFSET,
         lambda n: ({"topic": n, "group": GOOD_GROUP, "timestamp": 0, "isForce": "true"}, b""),
         False),
        ("reset offset group", RC.INVOKE_BROKER_TO_RESET_OFFSET,
         lambda n: ({"topic": GOOD_TOPIC, "group": n, "timestamp": 0, "isForce": "true"}, b""),
         False),
        ("broker config key", RC.UPDATE_BROKER_CONFIG,
         lambda n: (None, f"{n}=1\n".encode("utf-8", "surrogatepass")), False),
    ]


def _snapshot(root: Path) -> dict[str, str]:
    out = {}
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            p = Path(dirpath) / f
            out[str(p.relative_to(root))] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def _marked(tmp: Path) -> list[str]:
    """Every path carrying the marker: under tmp (recursively) and in each ancestor."""
    found = [os.path.join(d, n) for d, dirs, files in os.walk(tmp) for n in dirs + files
             if MARK in n or n == "Victim" and "consumequeue" not in d]
    for parent in tmp.resolve().parents:
        try:
            found += [str(parent / n) for n in os.listdir(parent) if MARK in n]
        except OSError:
            pass
    return found


def test_hostile_names_for_every_code(tmp_path):
    with running_cluster(tmp_path) as c:
        cli = RawClient(c.broker_addr)
        try:
            for topic in (GOOD_TOPIC, VICTIM):
                for _ in range(3):
                    r = cli.call(RequestCode.SEND_MESSAGE, _send(topic=topic), b"m")
                    assert r.code == ResponseCode.SUCCESS, r.remark
            phys = parse_offset_msg_id(r.ext_fields["msgId"])[2]
            victim_cq = tmp_path / "store" / "consumequeue" / VICTIM
            before = _snapshot(victim_cq)
            assert before
            failures = []
            for label, code, build, empty_absent in _cases(phys):
                for name in HOSTILE:
                    if name == "" and empty_absent:
                        continue
                    ext, body = build(name)
                    resp = cli.call(code, ext, body)
                    if resp.code == ResponseCode.SUCCESS:
                        failures.append(f"{label} {name!r}: SUCCESS")
                    elif not resp.remark:
                        failures.append(f"{label} {name!r}: code {resp.code} without remark")
            assert not failures, "\n".join(failures)
            # send-back codes answer what 4.9 answers for a group it cannot have
            by_label = {label: build for label, _c, build, _e in _cases(phys)}
            r = cli.call(RequestCode.CONSUMER_SEND_MSG_BACK,
                         by_label["send back dlq -1"](f"../{MARK}")[0])
            assert r.code == ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST
            r = cli.call(RequestCode.SEND_MESSAGE, _send(topic=f"../{MARK}"), b"x")
            assert r.code == ResponseCode.SYSTEM_ERROR and "illegal" in r.remark
            # nothing written outside (or inside) the store under a hostile name
            assert _marked(tmp_path) == []
            assert _snapshot(victim_cq) == before
            # the broker still serves: send, pull, the admin dumps that a poisoned table broke
            r = cli.call(RequestCode.SEND_MESSAGE, _send(), b"after")
            assert r.code == ResponseCode.SUCCESS
            p = cli.call(RequestCode.PULL_MESSAGE, _pull())
            assert p.code == ResponseCode.SUCCESS
            assert [m.body for m in decode_records(p.body)][-1] == b"after"
            for dump in (RequestCode.GET_ALL_TOPIC_CONFIG,
                         RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG,
                         RequestCode.GET_ALL_CONSUMER_OFFSET):
                assert cli.call(dump).code == ResponseCode.SUCCESS
        finally:
            cli.close()
        ns = RawClient(c.ns_addr)  # the NameServer's topic-carrying codes too
        try:
            for code in (RequestCode.GET_ROUTEINFO_BY_TOPIC, RequestCode.DELETE_TOPIC_IN_NAMESRV):
                for name in HOSTILE:
                    r = ns.call(code, {"topic": name})
                    assert r.code != ResponseCode.SUCCESS and r.remark, (code, name)
            assert ns.call(RequestCode.GET_ROUTEINFO_BY_TOPIC,
                           {"topic": GOOD_TOPIC}).code == ResponseCode.SUCCESS
        finally:
            ns.close()
        log = c.broker.log() + c.namesrv.log()
    assert "Traceback" not in log


@pytest.mark.parametrize("name", [f"{MARK}\ud800", f"{MARK}\udfff"])
def test_lone_surrogate_heartbeat_does_not_poison_the_broker(tmp_path, name):
    with running_cluster(tmp_path) as c:
        cli = RawClient(c.broker_addr)
        try:
            r = cli.call(RequestCode.HEART_BEAT, None, _heartbeat(group=name))
            assert r.code != ResponseCode.SUCCESS
            for dump in (RequestCode.GET_ALL_TOPIC_CONFIG,
                         RequestCode.GET_ALL_SUBSCRIPTIONGROUP_CONFIG):
                assert cli.call(dump).code == ResponseCode.SUCCESS
            assert cli.call(RequestCode.SEND_MESSAGE, _send(topic="BrandNew"), b"x").code == 0
        finally:
            cli.close()
