"""The orjson JSON header codec agrees with the standard-library reference on every input:
well-formed headers, odd values (floats, huge integers, NaN, lone surrogates, nesting) and
garbage bytes. Same fields out, or the same error."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pyrmq.protocol.command import (
    RemotingCommand,
    decode_json_header,
    decode_json_header_py,
    encode_json_header,
    encode_json_header_py,
)
from pyrmq.protocol.errors import RemoteProtocolError

KEYS = ["code", "opaque", "flag", "version", "language", "remark", "extFields",
        "serializeTypeCurrentRPC"]

text = st.one_of(st.text(max_size=12),
                 st.sampled_from(["\ud800", "a\udfff", "\U0001f600", "", "0", "-1", "true",
                                  "1e400", "\x00", "\u2028"]))
scalar = st.one_of(
    st.integers(min_value=-2**31, max_value=2**31 - 1),
    st.integers(),  # past 64 bits too
    st.sampled_from([2**31, -2**31 - 1, 2**63, 2**64, -2**63 - 1, 10**30]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(), st.none(), text)
value = st.recursive(scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)), max_leaves=6)
ext = st.one_of(st.dictionaries(text, st.one_of(text, scalar), max_size=8),
                st.dictionaries(text, value, max_size=4), value)
header = st.dictionaries(st.one_of(st.sampled_from(KEYS), text),
                         st.one_of(scalar, value, ext), max_size=9)
usual = st.fixed_dictionaries(
    {"code": st.integers(-2**31, 2**31 - 1), "opaque": st.integers(0, 2**31 - 1),
     "flag": st.integers(0, 3), "version": st.integers(0, 500),
     "language": st.one_of(st.sampled_from(["JAVA", "CPP", "PYTHON"]), st.integers(-1, 20)),
     "extFields": st.dictionaries(text, st.one_of(text, st.integers(), st.booleans(),
                                                   st.none()), max_size=14)},
    optional={"remark": st.one_of(text, st.none()), "serializeTypeCurrentRPC": text})


def outcome(fn: Any, raw: bytes) -> Any:
    try:
        return ("ok", fn(raw))
    except RemoteProtocolError as e:
        return ("error", str(e), e.fatal)


def dumps(obj: Any, ascii_only: bool) -> bytes:
    # allow_nan writes NaN/Infinity tokens; surrogatepass keeps lone surrogates as bytes
    return json.dumps(obj, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


@settings(max_examples=400, deadline=None)
@given(st.one_of(header, usual), st.booleans())
def test_decode_agrees_on_headers(obj: dict[str, Any], ascii_only: bool) -> None:
    raw = dumps(obj, ascii_only)
    assert outcome(decode_json_header, raw) == outcome(decode_json_header_py, raw)


@settings(max_examples=300, deadline=None)
@given(usual, st.data())
def test_decode_agrees_on_mutated_bytes(obj: dict[str, Any], data: st.DataObject) -> None:
    raw = bytearray(dumps(obj, data.draw(st.booleans())))
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw)))
        op = data.draw(st.sampled_from(["insert", "delete", "flip"]))
        if op == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=4))
        elif raw and at < len(raw):
            if op == "delete":
                del raw[at]
            else:
                raw[at] ^= data.draw(st.integers(1, 255))
    assert outcome(decode_json_header, bytes(raw)) == outcome(decode_json_header_py, bytes(raw))


@given(st.binary(max_size=64))
def test_decode_agrees_on_garbage(raw: bytes) -> None:
    assert outcome(decode_json_header, raw) == outcome(decode_json_header_py, raw)


def test_decode_agrees_on_deep_nesting() -> None:
    for depth in (10, 900, 1100, 5000):
        raw = b'{"code":1,"x":' + b"[" * depth + b"]" * depth + b"}"
        assert outcome(decode_json_header, raw) == outcome(decode_json_header_py, raw)


def encoded(fn: Any, cmd: RemotingCommand) -> Any:
    try:
        return ("ok", fn(cmd))
    except Exception as e:  # the reference raises UnicodeEncodeError for a lone surrogate
        return ("error", type(e))


@settings(max_examples=400, deadline=None)
@given(st.integers(-2**40, 2**40), st.integers(0, 2**31 - 1), st.integers(0, 3),
       st.one_of(text, st.none()), st.dictionaries(text, text, max_size=10),
       st.sampled_from(["JAVA", "CPP", "OTHER", "\ud800"]), st.integers(-2**70, 2**70))
def test_encode_agrees(code: int, opaque: int, flag: int, remark: str | None,
                       ext_fields: dict[str, str], language: str, version: int) -> None:
    cmd = RemotingCommand(code=code, opaque=opaque, flag=flag, remark=remark,
                          ext_fields=ext_fields, language=language, version=version)
    fast, ref = encoded(encode_json_header, cmd), encoded(encode_json_header_py, cmd)
    assert fast[0] == ref[0]
    if fast[0] == "ok":  # the same JSON document (escapes may be spelled differently)
        assert json.loads(fast[1]) == json.loads(ref[1])
        assert decode_json_header(fast[1]) == decode_json_header_py(ref[1])
    else:
        assert fast == ref
