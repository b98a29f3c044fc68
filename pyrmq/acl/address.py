"""4.9's remote address patterns (RemoteAddressStrategyFactory), IPv4: ``*`` (any),
``192.168.0.{1,2}`` (a set in the last part), ``a,b`` (a list), ``192.168.1.1-100`` and
``192.168.*.*`` (a range or ``*`` in one part, ``*`` after it), or one exact address. A blank
pattern matches nothing. IPv6 addresses match exactly or by ``*``."""

from __future__ import annotations

from dataclasses import dataclass


class AddressPatternError(ValueError):
    """A pattern 4.9 would refuse to load."""


@dataclass(frozen=True, slots=True)
class AddressPattern:
    """A compiled pattern: ``any_addr`` or a set of exact addresses or a per-part range."""

    text: str
    any_addr: bool = False
    exact: frozenset[str] = frozenset()
    head: tuple[str, ...] = ()       # range: literal leading parts
    lo: int = 0
    hi: int = -1                     # range bounds of the part after ``head``

    def match(self, ip: str) -> bool:
        """Whether ``ip`` (no port) is covered."""
        if self.any_addr:
            return True
        if ip in self.exact:
            return True
        if not self.head:
            return False
        parts = ip.split(".")
        if len(parts) != 4 or tuple(parts[:len(self.head)]) != self.head:
            return False
        v = parts[len(self.head)]
        return v.isdigit() and self.lo <= int(v) <= self.hi


def _octet(s: str, text: str) -> int:
    if not s.isdigit() or not 0 <= int(s) <= 255:
        raise AddressPatternError(f"bad address pattern {text!r}: {s!r} is not 0..255")
    return int(s)


def parse_address(text: str | None) -> AddressPattern | None:
    """Compile ``text``; None for a blank pattern (matches nothing)."""
    t = (text or "").strip()
    if not t:
        return None
    if t in ("*", "*.*.*.*", "*:*:*:*:*:*:*:*"):
        return AddressPattern(t, any_addr=True)
    if t.endswith("}"):
        prefix, brace, inner = t.rpartition("{")
        if not brace or not prefix.endswith(".") or len(prefix.split(".")) != 4:
            raise AddressPatternError(f"bad address pattern {t!r}")
        for p in prefix.rstrip(".").split("."):
            _octet(p, t)
        items = [i.strip() for i in inner[:-1].split(",") if i.strip()]
        return AddressPattern(t, exact=frozenset(prefix + str(_octet(i, t)) for i in items))
    if "," in t:
        return AddressPattern(t, exact=frozenset(a.strip() for a in t.split(",") if a.strip()))
    if ":" not in t and ("*" in t or "-" in t):
        parts = [p.strip() for p in t.split(".")]
        if len(parts) != 4:
            raise AddressPatternError(f"bad address pattern {t!r}: want 4 parts")
        i = next(i for i, p in enumerate(parts) if p == "*" or "-" in p)
        if i == 0 or any(p != "*" for p in parts[i + 1:]):
            raise AddressPatternError(f"bad address pattern {t!r}")
        head = tuple(str(_octet(p, t)) for p in parts[:i])
        if parts[i] == "*":
            return AddressPattern(t, head=head, lo=0, hi=255)
        a, _, b = parts[i].partition("-")
        lo, hi = _octet(a, t), _octet(b, t)
        if lo > hi:
            raise AddressPatternError(f"bad address pattern {t!r}: {lo} > {hi}")
        return AddressPattern(t, head=head, lo=lo, hi=hi)
    return AddressPattern(t, exact=frozenset((t,)))
