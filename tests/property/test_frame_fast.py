"""The compiled frame codec (pyrmq._wire) agrees with the pure-Python reference
(pyrmq.protocol.frame_py) on every input: random commands encode to the same bytes (or the same
error); random headers (every escape, unicode, surrogates, floats, huge integers, nesting,
duplicates, garbage) and random byte streams, fed whole or in random pieces, decode to the same
commands (every field, types included), the same errors (type, message, fatal) and the same
``buffered`` count after every feed."""

from __future__ import annotations

import json
import struct
from dataclasses import fields
from types import MappingProxyType
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pyrmq import _wire
from pyrmq.protocol import frame
from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import RemotingCommand, request
from pyrmq.protocol.errors import ProtocolError

FIELDS = [f.name for f in fields(RemotingCommand)]


def test_the_compiled_codec_is_the_one_in_use():
    assert frame.FrameDecoder is _wire.FrameDecoder and frame.encode is _wire.encode
    assert frame.PyFrameDecoder is not frame.FrameDecoder and frame.encode_py is not frame.encode


def typed(v: Any) -> Any:
    if isinstance(v, dict):
        return ("dict", [(typed(k), typed(x)) for k, x in v.items()])
    return (type(v).__name__, v)


def cmd_view(c: RemotingCommand) -> Any:
    assert type(c) is RemotingCommand
    return [(name, typed(getattr(c, name))) for name in FIELDS]


def run(dec_cls: type, chunks: list[bytes], max_frame: int) -> list[Any]:
    """Every feed's outcome: the commands (typed fields) or the error, and ``buffered``; a fed
    poisoned decoder must raise again."""
    dec = dec_cls(max_frame)
    log: list[Any] = []
    for c in chunks:
        try:
            got = dec.feed(c)
            log.append(("ok", [cmd_view(x) for x in got], dec.buffered))
        except ProtocolError as e:
            log.append(("error", type(e).__name__, str(e), getattr(e, "fatal", None),
                        dec.buffered))
    return log


def both(chunks: list[bytes], max_frame: int = 1 << 20) -> list[Any]:
    fast = run(frame.FrameDecoder, chunks, max_frame)
    ref = run(frame.PyFrameDecoder, chunks, max_frame)
    assert fast == ref
    return fast


def framed(header: bytes, body: bytes = b"", stype: int = 0) -> bytes:
    return struct.pack(">II", 4 + len(header) + len(body), (stype << 24) | len(header)) \
        + header + body


# --- header text with every way of writing a string -------------------------------------------

KEYS = ["code", "opaque", "flag", "version", "language", "remark", "extFields",
        "serializeTypeCurrentRPC"]
odd_text = st.sampled_from(["\ud800", "a\udfff", "\U0001f600", "", "0", "-1", "true", "\x00",
                            "\u2028", "\x7f", "é", "中文", "\x01\x02", "\\", '"', "/", "\t\n"])
text = st.one_of(st.text(max_size=10), odd_text)
ws = st.sampled_from(["", "", "", " ", "\n", "\t", "\r\n  "])


@st.composite
def json_str(draw: Any, s: str, pairs: bool = True) -> str:
    """``s`` as a JSON string literal, each character written one of the legal ways (or, for a
    lone surrogate, the only way: escaped; or raw, which makes the bytes not UTF-8)."""
    out = ['"']
    for ch in s:
        cp = ord(ch)
        short = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
                 "\t": "\\t"}
        way = draw(st.integers(0, 3))
        if cp > 0xFFFF and way == 0 and pairs:
            hi, lo = 0xD800 + ((cp - 0x10000) >> 10), 0xDC00 + ((cp - 0x10000) & 0x3FF)
            out.append(f"\\u{hi:04x}\\u{lo:04X}")
        elif cp <= 0xFFFF and (way == 0 or cp < 0x20 or 0xD800 <= cp <= 0xDFFF
                               and way != 3):
            out.append(f"\\u{cp:04x}" if way % 2 else f"\\u{cp:04X}")
        elif ch in short and way != 3:
            out.append(short[ch] if way == 1 or ch != "/" else "\\/")
        elif ch == "/" and way == 2:
            out.append("\\/")
        elif ch in short:
            out.append(short[ch] if ch in '"\\' or cp < 0x20 else ch)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


#: text the compiled scanner takes itself (no surrogate, paired or not)
plain_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=10)
number = st.one_of(st.integers(-2**31, 2**31 - 1), st.sampled_from(
    [2**31, -2**31 - 1, 2**63, 2**64, 10**30, 0]))
num_text = st.one_of(number.map(str), st.sampled_from(
    ["-0", "1.0", "1.5", "1e3", "1E3", "-1e-2", "01", "NaN", "Infinity", "-Infinity", "1e400",
     "true", "false", "null"]))


@st.composite
def json_value(draw: Any, depth: int = 0) -> str:
    kind = draw(st.integers(0, 5 if depth < 2 else 2))
    if kind <= 1:
        return draw(json_str(draw(text)))
    if kind == 2:
        return draw(num_text)
    if kind == 3:
        return "[" + ",".join(draw(st.lists(json_value(depth + 1), max_size=3))) + "]"
    return draw(json_object(depth + 1))


@st.composite
def json_object(draw: Any, depth: int = 0, usual: bool = False) -> str:
    keys = draw(st.lists(st.sampled_from(KEYS), unique=True) if usual
                else st.lists(st.one_of(st.sampled_from(KEYS), text), max_size=9))
    parts = []
    t = plain_text if usual and draw(st.integers(0, 3)) else text
    for k in keys:
        if usual or draw(st.integers(0, 3)):
            if k in ("code", "opaque", "flag", "version"):
                v = draw(num_text if not usual else st.integers(-2**31, 2**31 - 1).map(str))
            elif k in ("language", "remark", "serializeTypeCurrentRPC"):
                v = draw(st.one_of(json_str(draw(t), not usual), st.just("null")))
            elif k == "extFields":
                pairs = draw(st.lists(st.tuples(t, t), max_size=12))
                body = []
                for ek, ev in pairs:
                    evs = draw(json_str(ev, not usual)) if usual or draw(st.integers(0, 4)) \
                        else draw(json_value(depth + 1))
                    body.append(draw(ws) + draw(json_str(ek, not usual)) + draw(ws) + ":"
                                + draw(ws) + evs)
                v = "{" + ",".join(body) + "}" if pairs or draw(st.booleans()) else "null"
            else:
                v = draw(json_value(depth + 1))
        else:
            v = draw(json_value(depth + 1))
        key = f'"{k}"' if usual else draw(json_str(k))
        parts.append(draw(ws) + key + draw(ws) + ":" + draw(ws) + v + draw(ws))
    return draw(ws) + "{" + ",".join(parts) + "}" + draw(ws)


def to_bytes(s: str) -> bytes:
    return s.encode("utf-8", "surrogatepass")  # a raw lone surrogate: bytes that are not UTF-8


@st.composite
def chunked(draw: Any, data: bytes) -> list[bytes]:
    if not data or draw(st.booleans()):
        return [data]
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=6)))
    out, prev = [], 0
    for c in [*cuts, len(data)]:
        out.append(data[prev:c])
        prev = c
    return out


@settings(max_examples=400, deadline=None)
@given(data=st.data(), usual=st.booleans(), body=st.binary(max_size=20))
def test_random_headers(data, usual, body):
    header = to_bytes(data.draw(json_object(usual=usual)))
    raw = framed(header, body)
    both([raw])
    both([raw[i:i + 1] for i in range(len(raw))])
    both(data.draw(chunked(raw + raw)))


FRAGMENTS = ['{', '}', '"code"', '"opaque"', '"extFields"', '"remark"', '"language"', '"flag"',
             '"version"', '"serializeTypeCurrentRPC"', ':', ',', '1', '-0', '2147483648',
             '1.5', '1e3', 'null', 'true', '"JAVA"', '"\\u0001"', '"\\ud800"', '"\\udc00"',
             '"\\ud83d\\ude00"', '"é"', ' ', '[', ']', '"x"', '{"a":"b"}', 'NaN', '01', '"\\x"',
             '"\\u00"', '"', '\\', '"a\tb"', '"\\"', '\u00e9', '-', '"\x00"']


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(st.sampled_from(FRAGMENTS), max_size=20),
       junk=st.binary(max_size=6), at=st.integers(0, 200))
def test_token_soup_headers(parts, junk, at):
    header = to_bytes("".join(parts))
    both([framed(header)])
    if header:  # raw bytes spliced in: bad UTF-8, control bytes, truncations
        i = at % (len(header) + 1)
        both([framed(header[:i] + junk + header[i:])])
        both([framed(header[:i])])


USUAL = framed(b'{"code":10,"extFields":{"topic":"T","properties":"KEYS\\u0001k\\u0002"},'
               b'"flag":0,"language":"JAVA","opaque":3,"serializeTypeCurrentRPC":"JSON",'
               b'"version":409}', b"body")


@settings(max_examples=400, deadline=None)
@given(data=st.data(), stream=st.lists(st.one_of(
    st.just(USUAL), st.binary(max_size=40),
    st.builds(framed, st.binary(max_size=30), st.binary(max_size=8),
              st.sampled_from([0, 0, 1, 2, 255]))), max_size=6),
    max_frame=st.sampled_from([1 << 20, 200, 16, 4, 0]))
def test_random_streams(data, stream, max_frame):
    raw = b"".join(stream)
    both([raw], max_frame)
    both(data.draw(chunked(raw)), max_frame)
    both([raw, USUAL], max_frame)  # after poison, the same error again


@settings(max_examples=200, deadline=None)
@given(seed=st.just(USUAL), pos=st.integers(0, 10_000), byte=st.integers(0, 255),
       n=st.integers(1, 3))
def test_mutated_frames(seed, pos, byte, n):
    data = bytearray(seed * n)
    data[pos % len(data)] = byte
    both([bytes(data)])
    both([bytes(data[i:i + 7]) for i in range(0, len(data), 7)])


def test_inputs_of_other_buffer_types_and_large_streams():
    big = USUAL * 3000  # past the compaction threshold when fed in odd pieces
    pieces = [big[i:i + 1000] for i in range(0, len(big), 1000)]
    assert both([bytearray(p) if i % 2 else memoryview(p) for i, p in enumerate(pieces)])
    log = both(pieces)
    assert sum(len(x[1]) for x in log) == 3000
    for bad in ("text", 5):
        for cls in (frame.FrameDecoder, frame.PyFrameDecoder):
            try:
                cls().feed(bad)
            except TypeError:
                continue
            raise AssertionError(f"{cls} accepted {bad!r}")


def test_max_frame_attribute():
    for cls in (frame.FrameDecoder, frame.PyFrameDecoder):
        dec = cls()
        assert dec.max_frame == frame.DEFAULT_MAX_FRAME and dec.buffered == 0
        dec.max_frame = 10
        assert dec.max_frame == 10
    for limit in (2**70, 10.5, 50):
        assert run(frame.FrameDecoder, [USUAL], limit) == run(frame.PyFrameDecoder, [USUAL],
                                                              limit)


# --- encoding ----------------------------------------------------------------------------------

big_int = st.one_of(st.integers(-2**31, 2**31 - 1), st.integers(),
                    st.sampled_from([2**63 - 1, 2**63, -2**63, -2**63 - 1, 2**64]),
                    st.sampled_from(list(ResponseCode) + list(RequestCode)))
odd_value = st.one_of(st.integers(), st.booleans(), st.none(), st.floats(allow_nan=False))


@st.composite
def commands(draw: Any) -> RemotingCommand:
    ext: Any = draw(st.dictionaries(text, text, max_size=10))
    if draw(st.integers(0, 9)) == 0:
        ext = draw(st.dictionaries(st.one_of(text, st.integers()), st.one_of(text, odd_value),
                                   max_size=4))
    if draw(st.integers(0, 9)) == 0:
        ext = MappingProxyType(ext)
    body: Any = draw(st.binary(max_size=50))
    if draw(st.integers(0, 19)) == 0:
        body = bytearray(body)
    odd = draw(st.integers(0, 9)) == 0
    return RemotingCommand(
        code=draw(big_int if not odd else st.one_of(big_int, st.booleans())),
        opaque=draw(big_int), flag=draw(st.integers(0, 3) if not odd else big_int),
        remark=draw(st.one_of(st.none(), text)), ext_fields=ext, body=body,
        language=draw(st.one_of(st.sampled_from(["JAVA", "CPP", "PYTHON"]), text)),
        version=draw(st.integers(0, 500) if not odd else big_int),
        serialize_type=draw(st.sampled_from([0, 0, 0, 1]) if not odd
                            else st.sampled_from([0, 1, 2, True, False])))


def outcome(fn: Any, *args: Any) -> Any:
    try:
        return ("ok", fn(*args))
    except Exception as e:  # noqa: BLE001 - the exact error is what is compared
        return ("error", type(e).__name__, str(e))


@settings(max_examples=600, deadline=None)
@given(cmd=commands(), max_frame=st.sampled_from([frame.DEFAULT_MAX_FRAME, 200, 90, 0, 2**70]))
def test_encode_same_bytes(cmd, max_frame):
    fast = outcome(frame.encode, cmd, max_frame)
    assert fast == outcome(frame.encode_py, cmd, max_frame)
    if fast[0] == "ok" and cmd.serialize_type == 0:
        both([fast[1]], 2**31)  # and both decoders read it back alike


def test_encode_every_character_like_orjson():
    chars = "".join(chr(c) for c in range(0x3000)) + "\U0001f600\U0010ffff\uffff"
    chars = "".join(c for c in chars if not 0xD800 <= ord(c) <= 0xDFFF)
    cmd = request(10, {chars: chars, "k": chars[::-1]}, b"x")
    cmd = RemotingCommand(code=1, remark=chars, language=chars, ext_fields=cmd.ext_fields)
    assert frame.encode(cmd) == frame.encode_py(cmd)
    (back,) = frame.FrameDecoder().feed(frame.encode(cmd))
    assert cmd_view(back) == cmd_view(frame.PyFrameDecoder().feed(frame.encode(cmd))[0])
    assert back.remark == chars and back.ext_fields == cmd.ext_fields


def test_encode_refusals_match():
    missing = object.__new__(RemotingCommand)  # no slot set: both raise AttributeError
    for cmd in (missing, RemotingCommand(code=1, remark="\udc80"),
                RemotingCommand(code=1, ext_fields={"k": "\ud800"}),
                RemotingCommand(code=2**64), RemotingCommand(code=70000, serialize_type=1),
                RemotingCommand(code=1, body=b"x" * 100)):
        assert outcome(frame.encode, cmd, 50) == outcome(frame.encode_py, cmd, 50)


def test_json_dumps_headers_decode_alike():
    # headers written by the standard library, as other clients write them
    for obj in ({"code": 1, "extFields": {"a": "\u0001\u0002", "b": "é"}},
                {"code": 1, "remark": "\U0001f600"}, {"code": 1.0}, {"opaque": 2**40}):
        for ascii_only in (True, False):
            both([framed(json.dumps(obj, ensure_ascii=ascii_only).encode())])


# --- ROCKETMQ binary headers (what Java's benchmark tools send) -------------------------------

def binary_header(code: int, lang: int, version: int, opaque: int, flag: int,
                  remark: bytes, pairs: list[tuple[bytes, bytes]]) -> bytes:
    ext = b"".join(struct.pack(">h", len(k)) + k + struct.pack(">i", len(v)) + v
                   for k, v in pairs)
    return (struct.pack(">hBhii", code, lang, version, opaque, flag)
            + struct.pack(">i", len(remark)) + remark + struct.pack(">i", len(ext)) + ext)


utf8_or_not = st.one_of(text.map(lambda t: t.encode("utf-8", "surrogatepass")),
                        st.binary(max_size=6),
                        st.sampled_from([b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
                                         b"\xe2\x82", b"\xff", b"ok"]))


@st.composite
def binary_headers(draw: Any) -> bytes:
    header = binary_header(
        draw(st.integers(-2**15, 2**15 - 1)), draw(st.integers(0, 255)),
        draw(st.integers(-2**15, 2**15 - 1)), draw(st.integers(-2**31, 2**31 - 1)),
        draw(st.integers(-2**31, 2**31 - 1)), draw(utf8_or_not),
        draw(st.lists(st.tuples(st.one_of(utf8_or_not, st.sampled_from([b"topic", b"a"])),
                                utf8_or_not), max_size=70)))
    how = draw(st.integers(0, 5))
    if how == 1:  # cut anywhere
        header = header[:draw(st.integers(0, len(header)))]
    elif how == 2:  # one byte changed (a length field, most likely)
        data = bytearray(header)
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        header = bytes(data)
    elif how == 3:  # trailing bytes after the extFields area
        header += draw(st.binary(min_size=1, max_size=8))
    return header


@settings(max_examples=600, deadline=None)
@given(data=st.data(), header=binary_headers(), body=st.binary(max_size=20))
def test_random_binary_headers(data, header, body):
    raw = framed(header, body, stype=1)
    both([raw])
    both(data.draw(chunked(raw)))


def test_binary_headers_are_decoded_in_c_and_read_back(monkeypatch):
    def unused(*args: Any) -> Any:
        raise AssertionError("the reference codec was called")

    monkeypatch.setattr(_wire, "decode_binary_header", unused)
    monkeypatch.setattr(_wire, "encode_py", unused)
    cmd = request(310, {"a": "1", "topic": "é\U0001f600"}, b"body")
    cmd = RemotingCommand(code=310, opaque=-5, flag=2, remark="r", ext_fields=cmd.ext_fields,
                          body=b"body", language="DOTNET", version=-1, serialize_type=1)
    raw = frame.encode(cmd)
    assert raw == frame.encode_py(cmd)
    (back,) = _wire.FrameDecoder().feed(raw)
    assert cmd_view(back) == cmd_view(cmd)
    for stype in (0, 1):  # a response's code is a ResponseCode (an IntEnum)
        resp = request(310, {"a": "1"}, serialize_type=stype).response(ResponseCode.SUCCESS)
        assert frame.encode(resp) == frame.encode_py(resp)
    monkeypatch.undo()
    for lang in range(256):  # every language byte reads as the reference reads it
        both([framed(binary_header(1, lang, 0, 0, 0, b"", []), stype=1)])
