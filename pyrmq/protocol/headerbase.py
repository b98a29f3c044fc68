"""The typed-header mechanism: frozen slotted dataclasses whose fields describe the extFields
(wire name, type, required), read with ``from_ext`` and written with ``to_ext``.

Each header class gets a ``from_ext`` and a ``to_ext`` generated for it once, when the class is
defined (the way :mod:`dataclasses` generates ``__init__``): straight-line code that reads each
wire name, converts and range-checks it, and sets the slot, with no per-field loop or type
dispatch at run time. Integer fields are ``I32`` (Java ``int``/``Integer``) or ``I64`` (Java
``long``/``Long``); a value outside the Java type's range is refused like a bad number.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Annotated, Any

from pyrmq.protocol import names
from pyrmq.protocol.codes import ResponseCode
from pyrmq.protocol.errors import RemoteProtocolError

I32 = Annotated[int, "i32"]
I64 = Annotated[int, "i64"]
_RANGES = {"i32": (-2**31, 2**31 - 1), "i64": (-2**63, 2**63 - 1)}

# --- typed headers -------------------------------------------------------------------------
# Each header is a frozen slotted dataclass whose attributes are the Java field names in
# snake_case; the wire name is the camelCase form unless ``metadata={"wire": ...}`` says
# otherwise. Attributes without a default are required (Java's @CFNotNull fields). Types are
# read from the annotations: str, I32, I64, bool (a bare int is I64), each optionally ``| None``.

#: (attr, wire, base type, required) per class, in field order.
_SPECS: dict[type, tuple[tuple[str, str, type, bool], ...]] = {}
#: (lo, hi) per (class, attr) for integer fields.
_BOUNDS: dict[tuple[type, str], tuple[int, int]] = {}
#: name fields: (class, attr) -> (kind, response code when refused)
_NAMES: dict[tuple[type, str], tuple[str, int]] = {}
_NAME_CODES = {"topic": ResponseCode.SYSTEM_ERROR, "pgroup": ResponseCode.SYSTEM_ERROR,
               "group": ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST}


def name(kind: str, *, default: Any = dataclasses.MISSING, refuse: int | None = None,
         wire: str | None = None) -> Any:
    """A topic (``"topic"``), consumer group (``"group"``) or producer group (``"pgroup"``)
    field: ``from_ext`` refuses a value that breaks RocketMQ's name rules (answered with
    ``refuse``, by default SYSTEM_ERROR for topics and producer groups and
    SUBSCRIPTION_GROUP_NOT_EXIST for consumer groups). An optional field's ``""`` is absent."""
    meta: dict[str, Any] = {"name": kind, "refuse": refuse or _NAME_CODES[kind]}
    if wire:
        meta["wire"] = wire
    return dataclasses.field(default=default, metadata=meta)


def name_fields(cls: type) -> dict[str, str]:
    """attr -> name kind of the name fields of a header class."""
    _spec(cls)
    return {a: k for (c, a), (k, _code) in _NAMES.items() if c is cls}


def _name_checker(kind: str, code: int) -> Any:
    problem = names.topic_problem if kind == "topic" else names.group_problem

    def check(value: str) -> str:
        bad = problem(value)
        if bad is not None:
            raise RemoteProtocolError(bad, response_code=code)
        return value
    return check


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _base(kind: Any) -> tuple[type, str | None]:
    """(base type, range name) of an annotation such as ``I32 | None``."""
    args = [a for a in typing.get_args(kind) if a is not type(None)]
    if typing.get_origin(kind) is Annotated:
        return typing.get_args(kind)[0], typing.get_args(kind)[1]
    if args and typing.get_origin(kind) is not Annotated:
        return _base(args[0])
    return kind, ("i64" if kind is int else None)


def _spec(cls: type) -> tuple[tuple[str, str, type, bool], ...]:
    """(attr, wire name, base type, required) for each field of a header class."""
    spec = _SPECS.get(cls)
    if spec is None:
        hints = typing.get_type_hints(cls, include_extras=True)
        rows = []
        for f in dataclasses.fields(cls):
            base, rng = _base(hints[f.name])
            required = (f.default is dataclasses.MISSING
                        and f.default_factory is dataclasses.MISSING)
            rows.append((f.name, f.metadata.get("wire", _camel(f.name)), base, required))
            if "name" in f.metadata:
                _NAMES[(cls, f.name)] = (f.metadata["name"], f.metadata["refuse"])
            if rng is not None:
                _BOUNDS[(cls, f.name)] = _RANGES[rng]
        spec = _SPECS[cls] = tuple(rows)
    return spec


def bounds(cls: type, attr: str) -> tuple[int, int]:
    """(lo, hi) of an integer field (Java int or long)."""
    _spec(cls)
    return _BOUNDS[(cls, attr)]


def _bad(wire: str, what: str, value: Any) -> RemoteProtocolError:
    text = repr(value)
    if len(text) > 64:
        text = text[:60] + "...'"
    return RemoteProtocolError(f"the custom field <{wire}> {what}: {text}", fatal=False,
                               response_code=ResponseCode.SYSTEM_ERROR)


def _null(wire: str) -> RemoteProtocolError:
    return RemoteProtocolError(f"the custom field <{wire}> is null", fatal=False,
                               response_code=ResponseCode.SYSTEM_ERROR)


def _int(wire: str, value: Any, lo: int, hi: int) -> int:
    if value is None:
        raise _null(wire)
    if isinstance(value, bool):
        raise _bad(wire, "is not a number", value)
    try:
        n = int(value)
    except (ValueError, TypeError):
        raise _bad(wire, "is not a number", value) from None
    if n < lo or n > hi:
        raise _bad(wire, "is out of range", value)
    return n


def _bool(wire: str, value: Any) -> bool:
    if value == "false" or value is False:  # what Java and pyrmq send, first
        return False
    if value == "true" or value is True:
        return True
    low = str(value).strip().lower()
    if low in ("true", "1"):
        return True
    if low in ("false", "0"):
        return False
    raise _bad(wire, "is not a boolean", value)


def _compile(cls: type, names: Mapping[str, str] | None = None,
             implied: Mapping[str, str] | None = None) -> Any:
    """Generate ``from_ext(cls, ext)`` for ``cls``; ``names`` renames wire names (V2 letters),
    ``implied`` gives wire values assumed when absent."""
    ns: dict[str, Any] = {"_null": _null, "_bad": _bad, "_int": _int, "_bool": _bool,
                          "_new": object.__new__, "_EMPTY": {}}
    lines = ["def from_ext(cls, ext):", "    g = (ext or _EMPTY).get", "    self = _new(cls)"]
    for i, (attr, wire, base, required) in enumerate(_spec(cls)):
        key = (names or {}).get(wire, wire)
        ns[f"_set{i}"] = cls.__dict__[attr].__set__  # the slot's descriptor: no frozen check
        if required and base is int and not (implied and wire in implied):
            lo, hi = _BOUNDS[(cls, attr)]  # the hot case, fused: int(None) is a TypeError too
            lines += [f"    try: n = int(g({key!r}))",
                      f"    except (ValueError, TypeError): n = _int({key!r}, g({key!r}), "
                      f"{lo}, {hi})",
                      f"    if not {lo} <= n <= {hi}: raise _bad({key!r}, 'is out of range', n)",
                      f"    _set{i}(self, n)"]
            continue
        lines.append(f"    v = g({key!r})")
        if implied and wire in implied:
            lines.append(f"    if v is None: v = {implied[wire]!r}")
        if required:
            lines.append(f"    if v is None: raise _null({key!r})")
            indent = "    "
        else:
            f = next(x for x in dataclasses.fields(cls) if x.name == attr)
            ns[f"_d{i}"] = f.default
            empty = " or v == ''" if base is not str else ""
            lines.append(f"    if v is None{empty}: _set{i}(self, _d{i})")
            lines.append("    else:")
            indent = "        "
        if base is str and (cls, attr) in _NAMES:
            ns[f"_chk{i}"] = _name_checker(*_NAMES[(cls, attr)])
            conv = f"_chk{i}(v)" if required else f"_chk{i}(v) if v else v"
        elif base is str:
            conv = "v if v.__class__ is str else str(v)"
        elif base is bool:
            conv = f"_bool({key!r}, v)"
        else:
            lo, hi = _BOUNDS[(cls, attr)]
            lines.append(f"{indent}try: n = int(v)")
            lines.append(f"{indent}except (ValueError, TypeError): "
                         f"n = _int({key!r}, v, {lo}, {hi})")
            lines.append(f"{indent}if n < {lo} or n > {hi}: raise _bad({key!r}, "
                         f"'is out of range', v)")
            conv = "n"
        lines.append(f"{indent}_set{i}(self, {conv})")
    lines.append("    return self")
    exec("\n".join(lines), ns)  # noqa: S102 - source built above from field names only
    return ns["from_ext"]


def _compile_init(cls: type) -> Any:
    """Generate ``__init__`` setting each slot through its descriptor (what the frozen
    dataclass ``__init__`` does through ``object.__setattr__``, about twice as fast). Works for
    any frozen slotted dataclass (``default_factory`` fields get a fresh value per call)."""
    ns: dict[str, Any] = {"_MISSING": dataclasses.MISSING}
    params, body = ["self"], []
    for i, f in enumerate(dataclasses.fields(cls)):
        ns[f"_set{i}"] = cls.__dict__[f.name].__set__
        if f.default_factory is not dataclasses.MISSING:
            ns[f"_f{i}"] = f.default_factory
            params.append(f"{f.name}=_MISSING")
            body.append(f"    _set{i}(self, _f{i}() if {f.name} is _MISSING else {f.name})")
            continue
        if f.default is dataclasses.MISSING:
            params.append(f.name)
        else:
            ns[f"_d{i}"] = f.default
            params.append(f"{f.name}=_d{i}")
        body.append(f"    _set{i}(self, {f.name})")
    src = f"def __init__({', '.join(params)}):\n" + ("\n".join(body) or "    pass")
    exec(src, ns)  # noqa: S102
    return ns["__init__"]


def _compile_to_ext(cls: type, names: Mapping[str, str] | None = None) -> Any:
    """Generate ``to_ext(self)``: every value as text, ``None`` fields left out."""
    ns: dict[str, Any] = {}
    lines = ["def to_ext(self):", "    out = {}"]
    for attr, wire, base, _req in _spec(cls):
        key = (names or {}).get(wire, wire)
        lines.append(f"    v = self.{attr}")
        if base is bool:
            conv = "'true' if v else 'false'"
        elif base is str:
            conv = "v if v.__class__ is str else str(v)"
        else:
            conv = "str(v)"
        lines.append(f"    if v is not None: out[{key!r}] = {conv}")
    lines.append("    return out")
    exec("\n".join(lines), ns)  # noqa: S102
    return ns["to_ext"]


H = typing.TypeVar("H", bound="Header")


class Header:
    """Base of the typed custom headers: ``from_ext`` / ``to_ext`` generated per class."""

    __slots__ = ()

    @classmethod
    def from_ext(cls: type[H], ext: Mapping[str, Any] | None) -> H:
        """Parse extFields; a missing required field or a bad value raises
        ``RemoteProtocolError(fatal=False, response_code=SYSTEM_ERROR)`` naming the field."""
        raise NotImplementedError  # replaced per class by _header

    def to_ext(self) -> dict[str, str]:
        """extFields with every value as text; ``None`` fields are left out."""
        raise NotImplementedError  # replaced per class by _header


def _header(cls: type[H]) -> type[H]:
    """Make ``cls`` a frozen slotted dataclass and give it its generated codec."""
    dc = dataclasses.dataclass(frozen=True, slots=True)(cls)
    dc.from_ext = classmethod(_compile(dc))  # type: ignore[assignment]
    dc.to_ext = _compile_to_ext(dc)  # type: ignore[method-assign]
    init = _compile_init(dc)
    init.__qualname__ = f"{dc.__qualname__}.__init__"
    dc.__init__ = init  # type: ignore[misc]
    return dc
