"""Input generators for fuzzing live NameServer / Broker processes (sans-IO: bytes out only).

Everything is drawn from one ``random.Random`` so a seed replays a run. Frames that should be
well formed are built with pyrmq's own encoder (``pyrmq.protocol.frame.encode``); the hostile
parts are raw text spliced into the JSON header (``Infinity``, ``1e400``, 100k-deep nesting,
lone-surrogate escapes), which no encoder would write.

Names that reach paths (topics, groups) include ``../`` traversals at most :data:`MAX_UPS`
levels deep, so a server that honours them writes inside the test's sandbox directory (where
the test finds it) and never above it. Names the test uses for its health checks (prefix
``Health``, the broker's and cluster's names, ``TBW102``) are never generated, so a fuzzed
delete / unregister / wipe cannot legitimately take the health check's resources away.
"""

from __future__ import annotations

import dataclasses
import json
import random
import struct
from typing import Any

from pyrmq.protocol import headers
from pyrmq.protocol.codes import RequestCode
from pyrmq.protocol.command import (
    FLAG_ONEWAY,
    LANGUAGES,
    SERIALIZE_JSON,
    SERIALIZE_ROCKETMQ,
    RemotingCommand,
)
from pyrmq.protocol.frame import encode

#: A store root nested this deep below the sandbox keeps every generated traversal inside it:
#: consumequeue/<topic> with 5 "../" reaches storeroot/../../../../ = the sandbox.
MAX_UPS = 5

_PREFIX = struct.Struct(">II")

# Raw JSON spliced in place of a placeholder string: values json.dumps cannot produce.
_RAW = {
    "@@inf@@": "Infinity", "@@-inf@@": "-Infinity", "@@nan@@": "NaN", "@@1e400@@": "1e400",
    "@@-1e400@@": "-1e400", "@@deep@@": "[" * 100_000 + "]" * 100_000,
    "@@deepobj@@": '{"a":' * 50_000 + "1" + "}" * 50_000,
    "@@digits@@": "9" * 5000, "@@surrogate@@": '"\\ud800"', "@@lowsur@@": '"x\\udfff"',
}

def splice(text: str) -> str:
    """Replace the placeholder strings in dumped JSON by their raw hostile text."""
    if "@@" in text:
        for token, raw in _RAW.items():
            text = text.replace(f'"{token}"', raw)
    return text


HUGE_INTS = [2**31, 2**31 - 1, -2**31 - 1, 2**63, -2**63 - 1, 2**64 + 7, 10**30, -10**30]

_FIELDS_BY_CODE: dict[int, list[str]] = {
    RequestCode.SEND_MESSAGE: ["producerGroup", "topic", "defaultTopic", "defaultTopicQueueNums",
                               "queueId", "sysFlag", "bornTimestamp", "flag", "properties",
                               "reconsumeTimes", "unitMode", "batch", "maxReconsumeTimes"],
    RequestCode.SEND_MESSAGE_V2: list("abcdefghijklm"),
    RequestCode.PULL_MESSAGE: ["consumerGroup", "topic", "queueId", "queueOffset", "maxMsgNums",
                               "sysFlag", "commitOffset", "suspendTimeoutMillis", "subscription",
                               "subVersion", "expressionType"],
    RequestCode.CONSUMER_SEND_MSG_BACK: ["offset", "group", "delayLevel", "originMsgId",
                                         "originTopic", "unitMode", "maxReconsumeTimes"],
    RequestCode.GET_MAX_OFFSET: ["topic", "queueId"],
    RequestCode.GET_MIN_OFFSET: ["topic", "queueId"],
    RequestCode.VIEW_MESSAGE_BY_ID: ["offset"],
    RequestCode.DELETE_TOPIC_IN_BROKER: ["topic"],
    RequestCode.UPDATE_AND_CREATE_TOPIC: ["topic", "defaultTopic", "readQueueNums",
                                          "writeQueueNums", "perm", "topicFilterType",
                                          "topicSysFlag", "order"],
    RequestCode.QUERY_MESSAGE: ["topic", "key", "maxNum", "beginTimestamp", "endTimestamp"],
    RequestCode.UPDATE_CONSUMER_OFFSET: ["consumerGroup", "topic", "queueId", "commitOffset"],
    RequestCode.QUERY_CONSUMER_OFFSET: ["consumerGroup", "topic", "queueId"],
    RequestCode.SEARCH_OFFSET_BY_TIMESTAMP: ["topic", "queueId", "timestamp"],
    RequestCode.REGISTER_BROKER: ["brokerName", "brokerAddr", "clusterName", "haServerAddr",
                                  "brokerId", "compressed", "bodyCrc32"],
    RequestCode.UNREGISTER_BROKER: ["brokerName", "brokerAddr", "clusterName", "brokerId"],
    RequestCode.GET_ROUTEINFO_BY_TOPIC: ["topic"],
    RequestCode.PUT_KV_CONFIG: ["namespace", "key", "value"],
    RequestCode.INVOKE_BROKER_TO_RESET_OFFSET: ["topic", "group", "timestamp", "isForce"],
    RequestCode.CONSUME_MESSAGE_DIRECTLY: ["consumerGroup", "clientId", "msgId", "brokerName"],
    RequestCode.GET_CONSUMER_RUNNING_INFO: ["consumerGroup", "clientId", "jstackEnable"],
    RequestCode.END_TRANSACTION: ["producerGroup", "tranStateTableOffset", "commitLogOffset",
                                  "commitOrRollback", "fromTransactionCheck", "msgId",
                                  "transactionId"],
}


def _all_header_fields() -> list[str]:
    names: set[str] = set()
    for obj in vars(headers).values():
        if isinstance(obj, type) and dataclasses.is_dataclass(obj):
            for f in dataclasses.fields(obj):
                head, *rest = f.name.split("_")
                names.add(f.metadata.get("wire", head + "".join(p.title() for p in rest)))
    for fields in _FIELDS_BY_CODE.values():
        names.update(fields)
    return sorted(names)


ALL_FIELDS = _all_header_fields()
_NAME_FIELDS = {"topic", "group", "consumerGroup", "producerGroup", "originTopic",
                "defaultTopic", "brokerName", "clusterName", "namespace", "key", "a", "b"}


class FrameFuzzer:
    """Seeded generator of hostile inputs. ``sandbox`` is the directory an absolute-path name
    points into (so honouring it is caught, and stays inside the test's tmp dir)."""

    def __init__(self, rng: random.Random, sandbox: str) -> None:
        self.rng = rng
        self.opaque = 1
        self.names = [f"Fz{i}" for i in range(12)] + [
            "", " ", ".", "..", "a/b", "a\\b", "x" * 128, "x" * 300, "x" * 20000, "日本語",
            "\x00nul", "tab\tname", "%RETRY%Fz1", "%DLQ%Fz2", "Fz|pipe", "\ud800", "a\udfffb",
            sandbox + "/abs-escape", "~root",
        ] + ["../" * k + f"fz-esc{k}" for k in range(1, MAX_UPS + 1)] + [
            "../" * MAX_UPS, "%DLQ%" + "../" * (MAX_UPS - 1) + "fz-dlq",
            "..%2F..%2Ffz-enc", "Fz0/../../fz-mid"]
        self.codes = [int(c) for c in RequestCode]

    # -- values -----------------------------------------------------------------------------
    def name(self) -> str:
        return self.rng.choice(self.names)

    def hostile_value(self, raw: bool = True) -> Any:
        """A hostile JSON value; ``raw`` allows the spliced tokens (Infinity, deep nesting...)
        that may cost the connection its framing."""
        r = self.rng
        return r.choice([
            lambda: r.choice(list(_RAW)) if raw else "\ud800",
            lambda: r.choice(HUGE_INTS),
            lambda: str(r.choice(HUGE_INTS)),
            lambda: r.choice(["", "-1", "-5", "0", "NaN", "Infinity", "1e400", "1.5", "0x10",
                              " 7 ", "true", "null", "{}", "[]", "9" * 40]),
            lambda: self.name(),
            lambda: r.choice([None, True, False, 1.5, -0.0, [], {}, [1, [2]], {"a": {"b": 1}}]),
            lambda: "".join(chr(r.randrange(1, 0x3000)) for _ in range(r.randrange(1, 12))),
        ])()

    def plausible_value(self, fieldname: str) -> Any:
        r = self.rng
        if fieldname in _NAME_FIELDS:
            return self.name() if r.random() < 0.5 else f"Fz{r.randrange(12)}"
        if fieldname in ("subscription", "c"):
            return r.choice(["*", "TagA || TagB", "", "a" * 1000])
        if fieldname in ("properties", "i"):
            return r.choice(["", "KEYS\x01k\x02", "UNIQ_KEY\x01" + "u" * 32 + "\x02",
                             "DELAY\x01" + str(r.randrange(-3, 40)) + "\x02", "\x01\x02\x01",
                             "TRAN_MSG\x01true\x02", "=\x01=\x02"])
        if fieldname == "offset":  # 0 is the first stored message: send-back reaches names
            return r.choice(["0", "0", "0", str(r.randrange(1 << 16))])
        # small: a valid request with big numbers (a 10^6-queue topic) is load, not an attack
        return str(r.choice([0, 1, 2, 3, 4, 16, 32, 1000, r.randrange(1024)]))

    def ext_fields(self, code: int, raw: bool = True) -> dict[str, Any]:
        r = self.rng
        fields = list(_FIELDS_BY_CODE.get(code) or r.sample(ALL_FIELDS, r.randrange(0, 6)))
        if r.random() < 0.2:
            fields += r.sample(ALL_FIELDS, 2)
        out: dict[str, Any] = {}
        for f in fields:
            if r.random() < 0.1:
                continue  # a missing required field
            out[f] = (self.hostile_value(raw) if r.random() < 0.35
                      else self.plausible_value(f))
        return out

    # -- bodies -----------------------------------------------------------------------------
    def body(self, code: int) -> bytes:
        r = self.rng
        n = self.name
        if code == RequestCode.HEART_BEAT:
            obj: Any = {"clientID": n(), "producerDataSet": [{"groupName": n()}],
                        "consumerDataSet": [{
                            "groupName": n(), "consumeType": r.choice([0, 1, "CONSUME_PASSIVELY",
                                                                       "x", 99]),
                            "messageModel": r.choice([0, 1, "CLUSTERING", -1]),
                            "consumeFromWhere": r.choice([0, 4, "CONSUME_FROM_FIRST_OFFSET", 9]),
                            "subscriptionDataSet": [{"topic": n(), "subString": "*",
                                                     "tagsSet": [], "codeSet": [],
                                                     "subVersion": r.choice([0, "@@inf@@",
                                                                             10**30])}],
                            "unitMode": False}]}
        elif code in (RequestCode.LOCK_BATCH_MQ, RequestCode.UNLOCK_BATCH_MQ):
            obj = {"consumerGroup": n(), "clientId": n(), "mqSet": [
                {"topic": n(), "brokerName": n(), "queueId": self.hostile_value()}
                for _ in range(r.randrange(3))]}
            if r.random() < 0.3:
                del obj[r.choice(list(obj))]
        elif code == RequestCode.REGISTER_BROKER:
            obj = {"topicConfigSerializeWrapper": {"topicConfigTable": {
                n(): {"topicName": n(), "readQueueNums": self.hostile_value(),
                      "writeQueueNums": 4, "perm": 6}}, "dataVersion": {
                "timestamp": self.hostile_value(), "counter": 1}}, "filterServerList": []}
        elif code in (RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,):
            obj = {"groupName": n(), "retryQueueNums": self.hostile_value(),
                   "consumeEnable": True, "brokerId": 0}
        elif code == RequestCode.UPDATE_BROKER_CONFIG:
            # invalid values only: a valid change (brokerPermission=0, namesrvAddr=...) would
            # legitimately take the broker out of the health check's service
            lines = [r.choice(["brokerRole=GARBAGE", "listenPort=-5", "listenPort=abc",
                               "flushDiskType=NOPE", "fzUnknownKey=1", "\ud800=1",
                               "../x=1", "no equals sign", "=", "listenPort=99999999999999"])
                     for _ in range(r.randrange(1, 3))]
            return "\n".join(lines).encode("utf-8", "surrogatepass")
        elif code in (RequestCode.SEND_MESSAGE, RequestCode.SEND_MESSAGE_V2,
                      RequestCode.SEND_BATCH_MESSAGE):
            return self.batchish()
        else:
            obj = r.choice([{}, {"table": {n(): n()}}, [n()], {"offsetTable": {}},
                            {"topic": n(), "queueId": self.hostile_value()}, None])
        raw = splice(json.dumps(obj, ensure_ascii=True)).encode()
        return self.mutate_bytes(raw) if r.random() < 0.3 else raw

    def batchish(self) -> bytes:
        """A message body, or a batch body whose length/count prefixes lie."""
        r = self.rng
        k = r.random()
        if k < 0.5:
            return r.randbytes(r.randrange(0, 512))
        lie = r.choice([0, -1, 0x7FFFFFFF, 16, 1 << 24])
        return struct.pack(">iiiii", lie, r.randrange(-1, 3), 0, 0, lie) + r.randbytes(
            r.randrange(0, 64))

    def mutate_bytes(self, raw: bytes) -> bytes:
        r = self.rng
        data = bytearray(raw)
        k = r.random()
        if k < 0.4 and data:
            return bytes(data[:r.randrange(len(data))])            # truncated
        if k < 0.7:
            for _ in range(r.randrange(1, 4)):
                if data:
                    data[r.randrange(len(data))] = r.randrange(256)  # flipped bytes
            return bytes(data)
        if k < 0.85:
            return b'{"mqSet":[' + b'{"topic":"Fz1","brokerName":"b","queueId":1},' * 3000 \
                + b'{}]}'                                            # huge counts
        return r.randbytes(r.randrange(0, 300))                     # random bytes

    # -- frames -----------------------------------------------------------------------------
    def code(self) -> int:
        r = self.rng
        if r.random() < 0.85:
            return r.choice(self.codes)
        return r.choice([0, -1, 9999, 32767, -32768, 65535, 2**31 - 1, r.randrange(1, 1000)])

    def _next_opaque(self) -> int:
        self.opaque = (self.opaque + 1) & 0x7FFFFFFF
        return self.opaque

    def frame(self, codes: list[int] | None = None, hostile_header: bool = False) -> bytes:
        """One well-framed request with mutated extFields and body. With ``hostile_header``
        the header itself is attacked too (raw Infinity / 1e400 / deep nesting, top-level
        fields of the wrong type, flipped binary-header bytes): a server may then close the
        connection, so such frames go on connections of their own."""
        r = self.rng
        code = r.choice(codes) if codes else self.code()
        ext = self.ext_fields(code, raw=hostile_header)
        body = self.body(code) if r.random() < 0.7 else b""
        flag = FLAG_ONEWAY if r.random() < 0.05 else 0
        if r.random() < 0.25:
            return self._binary_frame(code, ext, body, flag, flip=hostile_header)
        obj: dict[str, Any] = {"code": code, "flag": flag, "language": "PYTHON",
                               "opaque": self._next_opaque(), "serializeTypeCurrentRPC": "JSON",
                               "version": 409, "extFields": ext}
        if hostile_header and r.random() < 0.5:  # top-level field (int(Infinity) raises)
            obj[r.choice(["code", "opaque", "flag", "version", "language", "remark",
                          "extFields"])] = self.hostile_value()
        hb = splice(json.dumps(obj, ensure_ascii=True, allow_nan=True)).encode()
        if len(hb) > 0xFFFFFF:
            hb = hb[:0xFFFFFF]
        return _PREFIX.pack(4 + len(hb) + len(body), (SERIALIZE_JSON << 24) | len(hb)) + hb + body

    def _binary_frame(self, code: int, ext: dict[str, Any], body: bytes, flag: int,
                      flip: bool) -> bytes:
        """A ROCKETMQ binary-header frame by pyrmq's encoder (values as UTF-8 text); now and
        then a byte of the header flipped afterwards."""
        def text(v: Any) -> str:
            s = v if isinstance(v, str) else json.dumps(v)
            return s.encode("utf-8", "replace").decode("utf-8")  # lone surrogates -> '?'

        code16 = code if -32768 <= code <= 32767 else 9999
        cmd = RemotingCommand(code=code16, opaque=self._next_opaque(), flag=flag,
                              ext_fields={k: text(v) for k, v in ext.items()}, body=body,
                              language=self.rng.choice(LANGUAGES),
                              serialize_type=SERIALIZE_ROCKETMQ)
        raw = encode(cmd)
        if flip:
            data = bytearray(raw)
            hlen = _PREFIX.unpack_from(data)[1] & 0xFFFFFF
            if hlen:
                data[8 + self.rng.randrange(hlen)] = self.rng.randrange(256)
            raw = bytes(data)
        return raw

    # -- raw garbage -------------------------------------------------------------------------
    def random_bytes(self) -> bytes:
        r = self.rng
        k = r.random()
        if k < 0.5:
            return r.randbytes(r.randrange(1, 2048))
        if k < 0.8:  # a plausible prefix, then garbage
            length = r.randrange(4, 4096)
            return _PREFIX.pack(length, r.randrange(1 << 32)) + r.randbytes(r.randrange(length))
        return self.mutate_bytes(self.frame())

    def oversized_prefix(self) -> bytes:
        r = self.rng
        length = r.choice([0, 1, 3, 0xFFFFFFFF, 0x7FFFFFFF, 16 * 1024 * 1024 + 1, 1 << 30])
        word = r.choice([0xFFFFFF, 0x00FFFFFF | (1 << 24), 0x7F000000, r.randrange(1 << 32)])
        return _PREFIX.pack(length, word) + r.randbytes(r.randrange(0, 64))

    def split(self, data: bytes) -> list[bytes]:
        """``data`` cut at random points (1..6 pieces)."""
        if len(data) < 2:
            return [data]
        cuts = sorted(self.rng.sample(range(1, len(data)), min(len(data) - 1,
                                                               self.rng.randrange(0, 6))))
        return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]

    def partial_frame(self) -> bytes:
        """The first part of a valid-looking frame (for slowloris)."""
        full = encode(RemotingCommand(code=int(RequestCode.GET_BROKER_RUNTIME_INFO),
                                      opaque=self._next_opaque(),
                                      ext_fields={"topic": "Fz1"}, body=b"x" * 200))
        return full[:self.rng.randrange(1, len(full) - 1)]
