"""The typed-header mechanism: frozen slotted dataclasses whose fields describe the extFields
(wire name, type, required), read with ``from_ext`` and written with ``to_ext``."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from typing import Any

from pyrmq.protocol.codes import ResponseCode
from pyrmq.protocol.errors import RemoteProtocolError

# --- typed headers -------------------------------------------------------------------------
# One mechanism: each header is a frozen slotted dataclass whose attributes are the Java field
# names in snake_case; the wire name is the camelCase form unless ``metadata={"wire": ...}``
# says otherwise. Attributes without a default are required (Java's non-@CFNullable fields).
# Types are read from the annotations: str, int, bool, each optionally ``| None``.

_SPECS: dict[type, tuple[tuple[str, str, type, bool], ...]] = {}


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


def _spec(cls: type) -> tuple[tuple[str, str, type, bool], ...]:
    spec = _SPECS.get(cls)
    if spec is None:
        hints = typing.get_type_hints(cls)
        rows = []
        for f in dataclasses.fields(cls):
            kind = hints[f.name]
            args = [a for a in typing.get_args(kind) if a is not type(None)]
            base = args[0] if args else kind
            required = (f.default is dataclasses.MISSING
                        and f.default_factory is dataclasses.MISSING)
            rows.append((f.name, f.metadata.get("wire", _camel(f.name)), base, required))
        spec = _SPECS[cls] = tuple(rows)
    return spec


def _bad(wire: str, what: str, value: Any) -> RemoteProtocolError:
    return RemoteProtocolError(f"the custom field <{wire}> {what}: {value!r}", fatal=False,
                               response_code=ResponseCode.SYSTEM_ERROR)


def _convert(wire: str, base: type, value: Any) -> Any:
    if base is str:
        return str(value)
    text = str(value).strip()
    if base is bool:
        low = text.lower()
        if low in ("true", "1"):
            return True
        if low in ("false", "0"):
            return False
        raise _bad(wire, "is not a boolean", value)
    try:
        return int(text)
    except ValueError:
        raise _bad(wire, "is not a number", value) from None


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


H = typing.TypeVar("H", bound="Header")


class Header:
    """Base of the typed custom headers: ``from_ext`` / ``to_ext`` driven by dataclass fields."""

    __slots__ = ()

    @classmethod
    def from_ext(cls: type[H], ext: Mapping[str, Any] | None) -> H:
        """Parse extFields; a missing required field or a bad value raises
        ``RemoteProtocolError(fatal=False, response_code=SYSTEM_ERROR)`` naming the field."""
        ext = ext or {}
        kwargs: dict[str, Any] = {}
        for attr, wire, base, required in _spec(cls):
            value = ext.get(wire)
            if value is None:
                if required:
                    raise RemoteProtocolError(f"the custom field <{wire}> is null", fatal=False,
                                              response_code=ResponseCode.SYSTEM_ERROR)
                continue
            if value == "" and base is not str and not required:
                continue
            kwargs[attr] = _convert(wire, base, value)
        return cls(**kwargs)

    def to_ext(self) -> dict[str, str]:
        """extFields with every value as text; ``None`` fields are left out."""
        out: dict[str, str] = {}
        for attr, wire, _base, _req in _spec(type(self)):
            value = getattr(self, attr)
            if value is not None:
                out[wire] = _text(value)
        return out


def _header(cls: type[H]) -> type[H]:
    return dataclasses.dataclass(frozen=True, slots=True)(cls)
