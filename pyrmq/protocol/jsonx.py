"""JSON as RocketMQ peers write it: a tolerant reader (fastjson's unquoted integer map keys such
as ``{0:"addr"}``, TAB-pretty files) and a compact standard writer both Java and C++ parse."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from pyrmq.protocol.errors import RemoteProtocolError

# A bare integer key right after "{" or "," (outside strings): quote it.
_BARE_KEY = re.compile(r'([{,]\s*)(-?\d+)(\s*:)')
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')


def _quote_bare_keys(text: str) -> str:
    out, pos = [], 0
    for m in _STRING.finditer(text):  # rewrite only the gaps between string literals
        out.append(_BARE_KEY.sub(r'\1"\2"\3', text[pos:m.start()]))
        out.append(m.group(0))
        pos = m.end()
    out.append(_BARE_KEY.sub(r'\1"\2"\3', text[pos:]))
    return "".join(out)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_STRICT = json.JSONDecoder(parse_constant=_reject_constant)


def _all_text(obj: Any, depth: int = 0) -> bool:
    """True when every string (keys included) in ``obj`` encodes as UTF-8."""
    if isinstance(obj, str):
        try:
            obj.encode("utf-8")
            return True
        except UnicodeEncodeError:
            return False
    if isinstance(obj, dict):
        return all(_all_text(k, depth) and _all_text(v, depth + 1) for k, v in obj.items())
    if isinstance(obj, list):
        return all(_all_text(v, depth + 1) for v in obj)
    return True


def _safe_all_text(obj: Any) -> bool:
    try:
        return _all_text(obj)
    except RecursionError:
        return False


def loads(raw: bytes | str) -> Any:
    """Parse standard JSON or fastjson output strictly: garbage, NaN/Infinity, nesting past the
    parser's depth and lone surrogates (``"\\ud800"``, which json.loads accepts) raise
    RemoteProtocolError."""
    try:
        text = bytes(raw).decode("utf-8") if not isinstance(raw, str) else raw
    except UnicodeDecodeError as e:
        raise RemoteProtocolError(f"bad JSON body: {e}") from None
    obj: Any = None
    try:
        try:
            obj = _STRICT.decode(text)
        except ValueError:
            obj = _STRICT.decode(_quote_bare_keys(text))
    except (ValueError, RecursionError) as e:
        raise RemoteProtocolError(f"bad JSON body: {str(e)[:100]}") from None
    if _SURROGATE_ESCAPE.search(text) and not _safe_all_text(obj):
        raise RemoteProtocolError("bad JSON body: text holds a lone surrogate (not UTF-8)")
    return obj


def dumps(obj: Any) -> bytes:
    """Compact standard JSON (keys quoted and sorted), UTF-8."""
    return json.dumps(obj, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def dumps_pretty(obj: Any) -> str:
    """TAB-indented JSON, like the broker's config files."""
    return json.dumps(obj, indent="\t", sort_keys=True, ensure_ascii=False)


F = TypeVar("F", bound=Callable[..., Any])


def reader(what: str) -> Callable[[F], F]:
    """Decorate a body reader: a well-formed JSON document of the wrong shape (a list where an
    object belongs, a string where a number does) raises RemoteProtocolError, not TypeError."""
    def wrap(fn: F) -> F:
        @functools.wraps(fn)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except (AttributeError, TypeError, ValueError, KeyError, IndexError,
                    OverflowError, RecursionError) as e:
                raise RemoteProtocolError(f"bad {what} body: {e!r}") from None
        return guarded  # type: ignore[return-value]
    return wrap
