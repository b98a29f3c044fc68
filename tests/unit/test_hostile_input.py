"""Hostile input never escapes the codec as anything but RemoteProtocolError, and a readable
frame with an unacceptable header is answered with an error on a connection that stays open
(issue 13 points 2 and 7)."""

from __future__ import annotations

import asyncio
import json
import logging
import struct
import sys

import pytest

from pyrmq.protocol import jsonx
from pyrmq.protocol.bodies import parse_heartbeat, parse_lock_body
from pyrmq.protocol.codes import ResponseCode
from pyrmq.protocol.command import request
from pyrmq.protocol.errors import RemoteProtocolError
from pyrmq.protocol.frame import FrameDecoder, encode
from pyrmq.remoting.connection import Connection, RateLimitedLog


def _frame(header: bytes, body: bytes = b"") -> bytes:
    return struct.pack(">II", 4 + len(header) + len(body), len(header)) + header + body


def _one(header: bytes):
    (cmd,) = FrameDecoder().feed(_frame(header))
    return cmd


@pytest.mark.parametrize("ext", [
    '{"topic": NaN}', '{"topic": Infinity}', '{"topic": -Infinity}', '{"queueId": 1e400}',
    '{"topic": "a\\ud800"}', '{"\\udfff": "x"}', '{"topic": "\\ud800\\ud800"}'])
def test_readable_header_with_bad_values_is_an_error_command(ext):
    cmd = _one(f'{{"code": 30, "opaque": 77, "flag": 0, "extFields": {ext}}}'.encode())
    assert cmd.error and cmd.opaque == 77 and cmd.ext_fields == {}
    resp = cmd.response(ResponseCode.SYSTEM_ERROR, cmd.error)
    encode(resp)  # the answer itself is encodable


@pytest.mark.parametrize("top", ['"code": 1e400', '"code": NaN', '"flag": 99999999999',
                                 '"version": "x"', '"extFields": [1]'])
def test_bad_top_level_fields_are_an_error_command(top):
    cmd = _one(f'{{"opaque": 5, {top}}}'.encode())
    assert cmd.error and cmd.opaque == 5


def test_surrogate_pair_is_fine():
    cmd = _one(b'{"code": 30, "opaque": 1, "extFields": {"topic": "\\ud83d\\ude00"}}')
    assert cmd.error is None and cmd.ext_fields["topic"] == "\U0001F600"


@pytest.mark.parametrize("header", [
    b"[" * 100_000 + b"]" * 100_000,
    b'{"code": 1, "opaque": ' + b"9" * 5000 + b"}",
    b'{"code": 1, "opaque": 1e400}',
    b'{"code": 1, "opaque": 1, "extFields": {"t": "\xed\xa0\x80"}}',  # an encoded surrogate
    b'{"code": 1, "opaque": 1, "extFields": ' + b'{"a":' * 50_000 + b"1" + b"}" * 50_001,
])
def test_unreadable_header_is_a_fatal_protocol_error(header):
    with pytest.raises(RemoteProtocolError) as e:
        FrameDecoder().feed(_frame(header))
    assert e.value.fatal


@pytest.mark.parametrize("body", [
    b'{"clientID": "c", "consumerDataSet": [{"groupName": "\\ud800"}]}',
    b'{"clientID": NaN}', b"[" * 100_000,
    b'{"clientID": "c", "consumerDataSet": [{"groupName": "g", '
    b'"subscriptionDataSet": [{"topic": "t", "subVersion": 1e400}]}]}'])
def test_bad_bodies_are_protocol_errors(body):
    with pytest.raises(RemoteProtocolError):
        parse_heartbeat(body)


@pytest.mark.parametrize("body", [
    b'{"mqSet": [{"topic": "t"}]}', b'{"mqSet": 5}', b"[]",
    b'{"mqSet": [{"topic": "t", "brokerName": "b", "queueId": 1e400}]}'])
def test_bad_lock_bodies_are_protocol_errors(body):
    with pytest.raises(RemoteProtocolError):
        parse_lock_body(body)


def test_jsonx_refuses_lone_surrogates_and_non_finite():
    with pytest.raises(RemoteProtocolError, match="surrogate"):
        jsonx.loads(b'{"a": ["x", {"\\udc00": 1}]}')
    with pytest.raises(RemoteProtocolError):
        jsonx.loads(b'{"a": Infinity}')
    assert jsonx.loads('{"a": "\\ud83d\\ude00"}') == {"a": "\U0001F600"}


class FakeTransport:
    def __init__(self) -> None:
        self.out = bytearray()
        self.closed = False

    def write(self, data: bytes) -> None:
        self.out += data

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default=None):
        return default

    def set_write_buffer_limits(self, high: int) -> None:
        pass


def test_connection_answers_bad_headers_and_survives_decoder_bugs(monkeypatch, caplog):
    async def handler(conn, cmd):
        raise OverflowError("Python int too large to convert to C long")

    async def go():
        conn = Connection({30: handler})
        t = FakeTransport()
        conn.connection_made(t)
        conn.data_received(_frame(b'{"code": 30, "opaque": 9, "extFields": {"q": NaN}}'))
        (resp,) = FrameDecoder().feed(bytes(t.out))
        assert resp.code == ResponseCode.SYSTEM_ERROR and resp.opaque == 9 and not t.closed
        t.out.clear()
        for i in range(5):  # handler failures: answered, one log line, no traceback
            conn.data_received(encode(request(30, opaque=100 + i)))
        await asyncio.sleep(0.05)
        got = FrameDecoder().feed(bytes(t.out))
        assert [r.code for r in got] == [ResponseCode.SYSTEM_ERROR] * 5
        import pyrmq.protocol.frame as frame_mod

        def broken(raw):
            raise KeyError("decoder bug")
        # the reference header decoder, as the decoder in use calls it (the compiled one calls
        # it for every header outside the usual shape: here an unknown key)
        decoder_module = sys.modules[frame_mod.FrameDecoder.__module__]
        monkeypatch.setattr(decoder_module, "decode_json_header", broken)
        conn.data_received(_frame(b'{"code": 30, "opaque": 200, "odd": 1}'))  # must not raise
        assert t.closed
    with caplog.at_level(logging.WARNING, logger="pyrmq.remoting"):
        asyncio.run(go())
    handler_lines = [r for r in caplog.records if "handler for code 30" in r.getMessage()]
    assert len(handler_lines) <= 1 and all(r.exc_info is None for r in caplog.records)


def test_rate_limited_log_counts_what_it_suppressed(caplog):
    rl = RateLimitedLog(logging.getLogger("t.rl"), interval=60)
    with caplog.at_level(logging.WARNING, logger="t.rl"):
        for _ in range(100):
            rl.warning("k", "boom")
    assert [r.getMessage() for r in caplog.records] == ["boom"]
    rl._state["k"] = (-1e9, 99)
    with caplog.at_level(logging.WARNING, logger="t.rl"):
        rl.warning("k", "boom")
    assert "99 similar suppressed" in caplog.records[-1].getMessage()


def test_json_module_really_accepts_lone_surrogates():
    # the reason for the checks above: the standard parser lets them through
    assert json.loads('"\\ud800"') == "\ud800"


def test_error_remark_quoting_a_surrogate_can_be_sent():
    """A remark that quotes hostile text used to make the answer unencodable (no reply)."""
    from pyrmq.protocol.command import encode_json_header, request

    resp = request(10).response(1, "bad group 'x\ud800y' é")
    assert resp.remark == "bad group 'x\\ud800y' é"
    encode_json_header(resp).decode("utf-8")  # strict: encodes and decodes
