"""Protocol codec benchmark: frames encoded/decoded per second for a typical send request
(V1 header like the C++ client's, 1 KiB body) and a 32-message pull response.

    .venv/bin/python bench/codec_bench.py            # the codec in use (compiled pyrmq._wire)
    .venv/bin/python bench/codec_bench.py --both     # and the pure-Python reference beside it
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections.abc import Callable

from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import RemotingCommand, request
from pyrmq.protocol.frame import FrameDecoder, PyFrameDecoder, encode, encode_py
from pyrmq.protocol.headers import (
    PullMessageRequestHeader,
    PullMessageResponseHeader,
    SendMessageRequestHeader,
)
from pyrmq.protocol.message import decode_records, encode_properties, encode_stored_record


def _rate(fn, seconds: float = 1.0) -> float:
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(100):
            fn()
        n += 100
    return n / (time.perf_counter() - t0)


def rows(decoder: Callable[[], FrameDecoder], encode: Callable[[RemotingCommand], bytes]
         ) -> list[tuple[str, float]]:
    """Frames/s of each case with this frame decoder class and encoder."""
    FrameDecoder = decoder  # noqa: N806 - the cases below read as with the real class
    props = encode_properties({"KEYS": "K1 K2", "TAGS": "TagA", "UNIQ_KEY": "0" * 32,
                               "WAIT": "true"}).decode()
    send = request(RequestCode.SEND_MESSAGE, {
                        "producerGroup": "PG", "topic": "TopicTest", "defaultTopic": "TBW102",
                        "defaultTopicQueueNums": 4, "queueId": 1, "sysFlag": 0,
                        "bornTimestamp": 1795518951092, "flag": 0, "properties": props,
                        "reconsumeTimes": 0, "unitMode": False, "batch": False}, b"x" * 1024)
    send_frame = encode(send)
    # what Java's benchmark tools send: the V2 header in the ROCKETMQ binary serialization
    send_bin = dataclasses.replace(request(
        310, SendMessageRequestHeader.from_command(send).to_ext_v2(), b"x" * 1024),
        serialize_type=1)
    send_bin_frame = encode(send_bin)
    send_bin_resp = send_bin.response(ResponseCode.SUCCESS, ext_fields={
        "msgId": "7F00000100002A9F0000000000000000", "queueId": "1", "queueOffset": "42",
        "MSG_REGION": "DefaultRegion", "TRACE_ON": "true"})
    def build_records() -> bytes:
        return b"".join(encode_stored_record(
            topic="TopicTest", queue_id=1, flag=0, queue_offset=i, phys_offset=i * 1200,
            sysflag=0, born_timestamp=1, born_host=("127.0.0.1", 5000), store_timestamp=2,
            store_host=("127.0.0.1", 10911), reconsume_times=0, prepared_transaction_offset=0,
            body=b"y" * 1024, properties=props.encode()) for i in range(32))

    records = build_records()
    pull = RemotingCommand(code=0, opaque=7, flag=1, ext_fields={
        "suggestWhichBrokerId": "0", "nextBeginOffset": "32", "minOffset": "0",
        "maxOffset": "100"}, body=records)
    pull_frame = encode(pull)

    def decode_send():
        FrameDecoder().feed(send_frame)

    def decode_send_typed():
        SendMessageRequestHeader.from_command(FrameDecoder().feed(send_frame)[0])

    def build_and_encode_pull():
        hdr = PullMessageResponseHeader(0, 32, 0, 100)
        encode(RemotingCommand(code=0, opaque=7, flag=1, ext_fields=hdr.to_ext(),
                               body=build_records()))

    def decode_pull():
        decode_records(FrameDecoder().feed(pull_frame)[0].body)

    send_v2 = request(310, SendMessageRequestHeader.from_command(send).to_ext_v2(), b"x")
    pull_req = request(11, {"consumerGroup": "CG", "topic": "TopicTest", "queueId": 1,
                            "queueOffset": 1234, "maxMsgNums": 32, "sysFlag": 3,
                            "commitOffset": 1200, "suspendTimeoutMillis": 15000,
                            "subscription": "*", "subVersion": 0, "expressionType": "TAG"})

    def pull_response_header() -> None:
        pull_req.response(0, ext_fields=PullMessageResponseHeader(0, 32, 0, 100), body=records)

    return [("send V2 header -> typed", _rate(lambda: SendMessageRequestHeader.from_command(
                send_v2))),
            ("pull request header -> typed", _rate(lambda: PullMessageRequestHeader.from_ext(
                pull_req.ext_fields))),
            ("pull response command from typed header", _rate(pull_response_header)),
            ("encode send request (1 KiB)", _rate(lambda: encode(send))),
            ("decode send request (1 KiB)", _rate(decode_send)),
            ("decode send request + typed header", _rate(decode_send_typed)),
            ("decode binary-header send V2 (1 KiB)", _rate(lambda: FrameDecoder().feed(
                send_bin_frame))),
            ("encode binary-header send response", _rate(lambda: encode(send_bin_resp))),
            ("encode pull response (32 x 1 KiB)", _rate(lambda: encode(pull))),
            ("build 32 records + header + encode", _rate(build_and_encode_pull)),
            ("decode pull response + 32 records", _rate(decode_pull))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--both", action="store_true",
                    help="also run the pure-Python reference codec (frame_py) and print both")
    args = ap.parse_args()
    compiled = rows(FrameDecoder, encode)
    if not args.both:
        for name, r in compiled:
            print(f"{name:<40} {r:>12,.0f} frames/s")
        return 0
    reference = rows(PyFrameDecoder, encode_py)
    print(f"{'case':<40} {'reference':>12} {'compiled':>12}  frames/s")
    for (name, c), (_, r) in zip(compiled, reference, strict=True):
        print(f"{name:<40} {r:>12,.0f} {c:>12,.0f}  {c / r:5.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
