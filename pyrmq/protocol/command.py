"""RemotingCommand: one request or response frame, and its two header encodings.

Wire facts (ROCKETMQ_FACTS §1): ``[u32 length][u32 serializeType<<24 | headerLength][header]
[body]``; length excludes itself. Header is JSON (type 0) or ROCKETMQ binary (type 1).
Responses go out in the request's serialize type; the C++ client only understands JSON. Every
extFields value travels as a string (the C++ client ignores non-string values); received values
may be numbers or strings and are normalised to their decimal text here, as Java does.
"""

from __future__ import annotations

import json
import math
import re
import struct
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

import orjson

from .errors import LocalProtocolError, RemoteProtocolError
from .headerbase import _compile_init

SERIALIZE_JSON = 0
SERIALIZE_ROCKETMQ = 1

FLAG_RESPONSE = 1
FLAG_ONEWAY = 2

#: Java LanguageCode names by their byte value (used by the ROCKETMQ binary header).
LANGUAGES = ("JAVA", "CPP", "DOTNET", "PYTHON", "DELPHI", "ERLANG", "RUBY", "OTHER", "HTTP",
             "GO", "PHP", "OMS", "RUST")
_LANGUAGE_CODE = {name: i for i, name in enumerate(LANGUAGES)}

#: Version we announce: MQVersion ordinal of V4_9_8, as a Java 4.9.8 server does.
DEFAULT_VERSION = 409
DEFAULT_LANGUAGE = "JAVA"


@dataclass(frozen=True, slots=True)
class RemotingCommand:
    """A decoded or to-be-encoded frame. ``ext_fields`` values are always ``str``."""

    code: int
    opaque: int = 0
    flag: int = 0
    remark: str | None = None
    ext_fields: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    language: str = DEFAULT_LANGUAGE
    version: int = DEFAULT_VERSION
    serialize_type: int = SERIALIZE_JSON
    #: set by the decoder when the frame is intact but its header cannot be accepted (bad
    #: text, a non-finite or out-of-range number): the request is answered with this remark
    error: str | None = None

    @property
    def is_response(self) -> bool:
        return bool(self.flag & FLAG_RESPONSE)

    @property
    def is_oneway(self) -> bool:
        return bool(self.flag & FLAG_ONEWAY)

    def response(self, code: int, remark: str | None = None,
                 ext_fields: Mapping[str, Any] | _ToExt | None = None,
                 body: bytes = b"") -> RemotingCommand:
        """Build the response to this request: same opaque and serialize type, RESPONSE flag.
        ``ext_fields`` is a typed header (its ``to_ext()`` is used as is) or a mapping. A
        remark that quotes hostile input (a lone surrogate) is escaped so it can be sent."""
        if remark is not None and not remark.isascii() and not strict_text(remark):
            remark = remark.encode("utf-8", "backslashreplace").decode("utf-8")
        return RemotingCommand(code=code, opaque=self.opaque, flag=FLAG_RESPONSE, remark=remark,
                               ext_fields=_fields(ext_fields), body=body,
                               serialize_type=self.serialize_type)

    def with_opaque(self, opaque: int, flag: int | None = None) -> RemotingCommand:
        """A copy with another opaque (and flag, when given)."""
        return RemotingCommand(self.code, opaque, self.flag if flag is None else flag,
                               self.remark, self.ext_fields, self.body, self.language,
                               self.version, self.serialize_type, self.error)


RemotingCommand.__init__ = _compile_init(RemotingCommand)  # type: ignore[method-assign]


def request(code: int, ext_fields: Mapping[str, Any] | _ToExt | None = None, body: bytes = b"",
            *, oneway: bool = False, opaque: int = 0,
            serialize_type: int = SERIALIZE_JSON) -> RemotingCommand:
    """Build a request command. ``ext_fields`` is a typed header (``SomeHeader(...)``: its
    ``to_ext()``) or a mapping whose values are stringified, ``None`` values dropped."""
    return RemotingCommand(code=code, opaque=opaque, flag=FLAG_ONEWAY if oneway else 0,
                           ext_fields=_fields(ext_fields), body=body,
                           serialize_type=serialize_type)


class _ToExt(Protocol):
    def to_ext(self) -> dict[str, str]: ...


def _fields(ext: Mapping[str, Any] | _ToExt | None) -> dict[str, str]:
    if ext is None:
        return {}
    to_ext = getattr(ext, "to_ext", None)
    if to_ext is not None:  # a typed header: values are text already
        return to_ext()
    return stringify(ext) if ext else {}  # type: ignore[arg-type]


def stringify(fields: Mapping[str, Any]) -> dict[str, str]:
    """extFields as Java sends them: ``value.toString()``; booleans as ``true``/``false``."""
    out: dict[str, str] = {}
    for k, v in fields.items():
        if v is None:
            continue
        if isinstance(v, bool):
            out[k] = "true" if v else "false"
        else:
            out[k] = str(v)
    return out


# --- JSON header -------------------------------------------------------------------------------

_orjson_loads = orjson.loads
_orjson_dumps = orjson.dumps
_OrjsonDecodeError = orjson.JSONDecodeError
_OrjsonEncodeError = orjson.JSONEncodeError

class _NonFinite(str):
    """NaN / Infinity / a number past float range in a JSON header (not acceptable)."""


class _BadHeader(Exception):
    pass


def _parse_float(text: str) -> float | _NonFinite:
    f = float(text)
    return f if math.isfinite(f) else _NonFinite(text)


#: a \uD800-\uDFFF escape: json.loads turns a lone one into a lone surrogate
_HEADER_JSON = json.JSONDecoder(parse_constant=_NonFinite, parse_float=_parse_float)
SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abAB]|\\u[dD][c-fC-F]")
_INT32 = (-2**31, 2**31 - 1)


def strict_text(s: str) -> bool:
    """True when ``s`` encodes as UTF-8 (no lone surrogate)."""
    try:
        s.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def _ext_value(v: Any) -> str:
    if isinstance(v, str):
        if isinstance(v, _NonFinite):
            raise _BadHeader(f"a number out of range: {v[:40]}")
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if v is None:
        return ""
    try:
        return json.dumps(v, separators=(",", ":"), allow_nan=False)
    except (ValueError, RecursionError):
        raise _BadHeader("an extFields value cannot be carried as text") from None


def _int_field(obj: dict[str, Any], name: str) -> int:
    v = obj.get(name, 0)
    if v.__class__ is int and -2147483648 <= v <= 2147483647:  # the usual case, first
        return v  # type: ignore[no-any-return]
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    if isinstance(v, str) and not isinstance(v, _NonFinite):
        try:
            v = int(v)
        except ValueError:
            raise _BadHeader(f"header field {name} is not an integer") from None
    if isinstance(v, bool) or not isinstance(v, int):
        raise _BadHeader(f"header field {name} is not an integer")
    if not _INT32[0] <= v <= _INT32[1]:
        raise _BadHeader(f"header field {name} is out of the int range")
    return v


def decode_json_header(raw: bytes) -> dict[str, Any]:
    """Parse a JSON header into the keyword arguments of :class:`RemotingCommand`.

    orjson parses; a header of the usual shape (integer fields in range, extFields values text,
    numbers or booleans, every other value a string, integer or boolean) is converted here. Any
    other header, and anything orjson refuses, goes to :func:`decode_json_header_py`, the
    reference, so what is accepted or refused and how never depends on orjson."""
    try:
        obj = _orjson_loads(raw)
    except _OrjsonDecodeError:
        return decode_json_header_py(raw)
    if obj.__class__ is not dict:
        return decode_json_header_py(raw)
    if _USUAL_KEYS.issuperset(obj):  # what every RocketMQ client sends: checked in one go
        code, opaque = obj.get("code", 0), obj.get("opaque", 0)
        flag, version = obj.get("flag", 0), obj.get("version", 0)
        language, remark = obj.get("language", "OTHER"), obj.get("remark")
        ext, rpc = obj.get("extFields"), obj.get("serializeTypeCurrentRPC")
        if (code.__class__ is int and opaque.__class__ is int and flag.__class__ is int
                and version.__class__ is int and -2147483648 <= code <= 2147483647
                and -2147483648 <= opaque <= 2147483647 and -2147483648 <= flag <= 2147483647
                and -2147483648 <= version <= 2147483647 and language.__class__ is str
                and (remark is None or remark.__class__ is str)
                and (rpc is None or rpc.__class__ is str)
                and (not ext or (ext.__class__ is dict
                                 and _ONLY_STR.issuperset(map(type, ext.values()))))):
            return {"code": code, "opaque": opaque, "flag": flag, "version": version,
                    "remark": remark, "language": language, "ext_fields": ext or {},
                    "serialize_type": SERIALIZE_JSON}
    fields = {"code": 0, "opaque": 0, "flag": 0, "version": 0, "remark": None,
              "language": "OTHER", "ext_fields": {}, "serialize_type": SERIALIZE_JSON}
    for k, v in obj.items():
        cls = v.__class__
        if k in _INT_KEYS:
            if cls is not int or not -2147483648 <= v <= 2147483647:
                return decode_json_header_py(raw)
            fields[k] = v
        elif k == "extFields":
            if not v:
                continue
            if cls is not dict:
                return decode_json_header_py(raw)
            if _ONLY_STR.issuperset(map(type, v.values())):  # the usual case: all text
                fields["ext_fields"] = v
                continue
            ext = {}
            for ek, ev in v.items():
                ecls = ev.__class__
                if ecls is str:
                    ext[ek] = ev
                elif ecls is int:
                    ext[ek] = str(ev)
                elif ecls is bool:
                    ext[ek] = "true" if ev else "false"
                elif ev is None:
                    ext[ek] = ""
                else:
                    return decode_json_header_py(raw)
            fields["ext_fields"] = ext
        elif cls is not str and cls is not int and cls is not bool and v is not None:
            return decode_json_header_py(raw)  # a float or a nested value: the reference
        elif k == "remark":
            fields["remark"] = v if cls is str else None
        elif k == "language":
            if cls is str:
                fields["language"] = v
            elif cls is int:
                fields["language"] = LANGUAGES[v] if 0 <= v < len(LANGUAGES) else "OTHER"
    return fields


#: the header fields read as Java ints
_INT_KEYS = frozenset(("code", "opaque", "flag", "version"))
_ONLY_STR = frozenset((str,))
_USUAL_KEYS = frozenset(("code", "opaque", "flag", "version", "language", "remark", "extFields",
                         "serializeTypeCurrentRPC"))


def decode_json_header_py(raw: bytes) -> dict[str, Any]:
    """The reference JSON header decoder (the standard library's parser); same result as
    :func:`decode_json_header`.

    Text that is not JSON (or not UTF-8, or nested past the parser's depth) loses the request's
    opaque: a fatal error. A readable header whose other fields cannot be accepted (a lone
    surrogate, NaN/Infinity, a number past the field's range) comes back with ``error`` set,
    so the request is answered with an error and the connection lives on."""
    try:
        text = raw.decode("utf-8")  # strict: no encoded surrogates (json would let them pass)
        obj = _HEADER_JSON.decode(text)
    except (ValueError, UnicodeDecodeError, RecursionError) as e:
        raise RemoteProtocolError(f"header is not valid JSON: {str(e)[:80]}",
                                  fatal=True) from None
    if not isinstance(obj, dict):
        raise RemoteProtocolError("header JSON is not an object", fatal=True)
    try:
        opaque = _int_field(obj, "opaque")
    except _BadHeader as e:
        raise RemoteProtocolError(str(e), fatal=True) from None
    fields: dict[str, Any] = {"code": 0, "opaque": opaque, "flag": 0, "version": 0,
                              "remark": None, "language": "OTHER", "ext_fields": {},
                              "serialize_type": SERIALIZE_JSON}
    try:
        fields["flag"] = _int_field(obj, "flag")
        fields["code"] = _int_field(obj, "code")
        fields["version"] = _int_field(obj, "version")
        ext = obj.get("extFields") or {}
        if not isinstance(ext, dict):
            raise _BadHeader("extFields is not an object")
        remark = obj.get("remark")
        language = obj.get("language", "OTHER")
        if isinstance(language, int) and not isinstance(language, bool):
            language = LANGUAGES[language] if 0 <= language < len(LANGUAGES) else "OTHER"
        fields["remark"] = remark if isinstance(remark, str) else None
        fields["language"] = language if isinstance(language, str) else "OTHER"
        fields["ext_fields"] = {str(k): _ext_value(v) for k, v in ext.items()}
        if SURROGATE_ESCAPE.search(text):  # a pair is fine, a lone one is not text
            texts = [fields["remark"] or "", fields["language"], *fields["ext_fields"],
                     *fields["ext_fields"].values()]
            if not all(strict_text(t) for t in texts):
                raise _BadHeader("header text holds a lone surrogate (not UTF-8)")
    except _BadHeader as e:
        fields.update(ext_fields={}, remark=None, error=f"bad header: {e}")
        if not strict_text(fields["language"]):
            fields["language"] = "OTHER"
    return fields


def encode_json_header(cmd: RemotingCommand) -> bytes:
    """The JSON header of ``cmd`` (orjson; what it cannot write, e.g. a lone surrogate or an
    integer past 64 bits, goes to :func:`encode_json_header_py`, which raises the same error
    as before for text that is not UTF-8)."""
    try:
        return _orjson_dumps(_json_header_obj(cmd))
    except _OrjsonEncodeError:
        return encode_json_header_py(cmd)


def encode_json_header_py(cmd: RemotingCommand) -> bytes:
    """The reference JSON header encoder (the standard library's)."""
    return json.dumps(_json_header_obj(cmd), separators=(",", ":"),
                      ensure_ascii=False).encode()


def _json_header_obj(cmd: RemotingCommand) -> dict[str, Any]:
    """The JSON header's fields in RocketMQ's order (ext fields copied only when they are
    not a plain dict already; neither encoder changes them)."""
    obj: dict[str, Any] = {"code": cmd.code}
    if cmd.ext_fields:
        obj["extFields"] = cmd.ext_fields if cmd.ext_fields.__class__ is dict \
            else dict(cmd.ext_fields)
    obj["flag"] = cmd.flag
    obj["language"] = cmd.language
    obj["opaque"] = cmd.opaque
    if cmd.remark is not None:
        obj["remark"] = cmd.remark
    obj["serializeTypeCurrentRPC"] = "JSON"
    obj["version"] = cmd.version
    return obj


# --- ROCKETMQ binary header --------------------------------------------------------------------

_BIN_FIXED = struct.Struct(">hBhii")  # code, language, version, opaque, flag


def decode_binary_header(raw: bytes) -> dict[str, Any]:
    """Parse a ROCKETMQ (type 1) header; any inconsistency is a fatal remote error."""
    mv = memoryview(raw)
    n = len(mv)
    try:
        code, lang, version, opaque, flag = _BIN_FIXED.unpack_from(mv, 0)
        pos = _BIN_FIXED.size
        (rlen,) = struct.unpack_from(">i", mv, pos)
        pos += 4
        if rlen < 0 or pos + rlen > n:
            raise RemoteProtocolError("binary header remark length out of bounds", fatal=True)
        remark = bytes(mv[pos:pos + rlen]).decode() if rlen else None
        pos += rlen
        (elen,) = struct.unpack_from(">i", mv, pos)
        pos += 4
        if elen < 0 or pos + elen > n:
            raise RemoteProtocolError("binary header extFields length out of bounds", fatal=True)
        end = pos + elen
        ext: dict[str, str] = {}
        while pos < end:
            (klen,) = struct.unpack_from(">h", mv, pos)
            pos += 2
            if klen < 0 or pos + klen + 4 > end:
                raise RemoteProtocolError("binary header key length out of bounds", fatal=True)
            key = bytes(mv[pos:pos + klen]).decode()
            pos += klen
            (vlen,) = struct.unpack_from(">i", mv, pos)
            pos += 4
            if vlen < 0 or pos + vlen > end:
                raise RemoteProtocolError("binary header value length out of bounds", fatal=True)
            ext[key] = bytes(mv[pos:pos + vlen]).decode()
            pos += vlen
    except struct.error:
        raise RemoteProtocolError("binary header truncated", fatal=True) from None
    except UnicodeDecodeError:
        raise RemoteProtocolError("binary header text is not UTF-8", fatal=True) from None
    language = LANGUAGES[lang] if lang < len(LANGUAGES) else "OTHER"
    return {"code": code, "opaque": opaque, "flag": flag, "version": version, "remark": remark,
            "language": language, "ext_fields": ext, "serialize_type": SERIALIZE_ROCKETMQ}


def encode_binary_header(cmd: RemotingCommand) -> bytes:
    if not -32768 <= cmd.code <= 32767 or not -32768 <= cmd.version <= 32767:
        raise LocalProtocolError("code/version do not fit the binary header's i16")
    parts = [_BIN_FIXED.pack(cmd.code, _LANGUAGE_CODE.get(cmd.language, 7), cmd.version,
                             cmd.opaque, cmd.flag)]
    remark = cmd.remark.encode() if cmd.remark else b""
    parts.append(struct.pack(">i", len(remark)))
    parts.append(remark)
    ext = bytearray()
    for k, v in cmd.ext_fields.items():
        kb, vb = k.encode(), str(v).encode()
        ext += struct.pack(">h", len(kb)) + kb + struct.pack(">i", len(vb)) + vb
    parts.append(struct.pack(">i", len(ext)))
    parts.append(bytes(ext))
    return b"".join(parts)
