"""RocketMQ's SQL92 selector subset: ``compile(text) -> Expr``; ``Expr.evaluate(props)``.

Grammar: OR / AND / NOT, parentheses, comparisons (= <> < <= > >=), [NOT] BETWEEN a AND b,
[NOT] IN ('x', ...), IS [NOT] NULL, string / integer / decimal / TRUE / FALSE literals.
Three-valued logic as in Java's selector: a missing property makes a comparison unknown (None),
which filters the message out at the top. A property value that parses as a number compares
numerically against a number literal. Hand-written recursive descent: the grammar is small and a
parser library would add a dependency for ~100 lines.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

Value = Any  # str | Decimal | bool | None
_TOKEN = re.compile(r"\s*(?:(?P<num>\d+(?:\.\d+)?)|(?P<str>'(?:[^']|'')*')|"
                    r"(?P<op><>|<=|>=|[=<>(),])|(?P<word>[A-Za-z_][A-Za-z0-9_.]*))")
_KEYWORDS = {"AND", "OR", "NOT", "BETWEEN", "IN", "IS", "NULL", "TRUE", "FALSE"}


class SqlSyntaxError(ValueError):
    """A malformed expression; the message names the expression and the position."""


class Expr:
    """A compiled expression."""

    def __init__(self, text: str, fn: Callable[[Mapping[str, str]], Value]) -> None:
        self.text = text
        self._fn = fn

    def evaluate(self, props: Mapping[str, str]) -> bool:
        """True only when the expression is TRUE for ``props`` (unknown counts as false)."""
        return self._fn(props) is True


def _num(v: Value) -> Decimal | None:
    if isinstance(v, Decimal):
        return v
    if isinstance(v, str):
        try:
            return Decimal(v)
        except InvalidOperation:
            return None
    return None


def _cmp(a: Value, b: Value, op: str) -> bool | None:
    if a is None or b is None:
        return None
    na, nb = _num(a), _num(b)
    if (isinstance(a, Decimal) or isinstance(b, Decimal)) and na is not None and nb is not None:
        a, b = na, nb
    elif type(a) is not type(b):
        return None if op not in ("=", "<>") else op == "<>"
    if op == "=":
        return a == b
    if op == "<>":
        return a != b
    if isinstance(a, bool):
        return None
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            m = _TOKEN.match(text, pos)
            if m is None or m.end() == pos:
                self.fail(pos, "unexpected character")
            assert m is not None
            kind = m.lastgroup or ""
            val, start = m.group(kind), m.start(kind)
            if kind == "word" and val.upper() in _KEYWORDS:
                kind, val = "kw", val.upper()
            self.toks.append((kind, val, start))
            pos = m.end()
        self.i = 0

    def fail(self, pos: int, why: str) -> None:
        raise SqlSyntaxError(f"bad SQL92 expression {self.text!r} at position {pos}: {why}")

    def peek(self) -> tuple[str, str, int]:
        return self.toks[self.i] if self.i < len(self.toks) else ("end", "", len(self.text))

    def take(self, kind: str, val: str | None = None) -> str:
        k, v, p = self.peek()
        if k != kind or (val is not None and v != val):
            self.fail(p, f"expected {val or kind}, found {v or 'end'}")
        self.i += 1
        return v

    def accept(self, kind: str, val: str) -> bool:
        k, v, _ = self.peek()
        if k == kind and v == val:
            self.i += 1
            return True
        return False

    def parse(self) -> Callable[[Mapping[str, str]], Value]:
        fn = self.or_()
        k, v, p = self.peek()
        if k != "end":
            self.fail(p, f"unexpected {v}")
        return fn

    def or_(self):
        left = self.and_()
        while self.accept("kw", "OR"):
            right, prev = self.and_(), left
            def left(pr, a=prev, b=right):  # noqa: E306
                x, y = a(pr), b(pr)
                return True if x is True or y is True else (None if x is None or y is None
                                                           else False)
        return left

    def and_(self):
        left = self.not_()
        while self.accept("kw", "AND"):
            right, prev = self.not_(), left
            def left(pr, a=prev, b=right):  # noqa: E306
                x, y = a(pr), b(pr)
                return False if x is False or y is False else (None if x is None or y is None
                                                             else True)
        return left

    def not_(self):
        if self.accept("kw", "NOT"):
            inner = self.not_()
            return lambda pr: None if (v := inner(pr)) is None else not v
        return self.predicate()

    def predicate(self):
        left = self.value()
        k, v, p = self.peek()
        if k == "op" and v in ("=", "<>", "<", "<=", ">", ">="):
            self.i += 1
            right = self.value()
            return lambda pr: _cmp(left(pr), right(pr), v)
        if self.accept("kw", "IS"):
            neg = self.accept("kw", "NOT")
            self.take("kw", "NULL")
            return lambda pr: (left(pr) is None) != neg
        neg = self.accept("kw", "NOT")
        if self.accept("kw", "BETWEEN"):
            lo = self.value()
            self.take("kw", "AND")
            hi = self.value()

            def between(pr):
                x = left(pr)
                a, b = _cmp(x, lo(pr), ">="), _cmp(x, hi(pr), "<=")
                r = None if a is None or b is None else (a and b)
                return r if r is None or not neg else not r
            return between
        if self.accept("kw", "IN"):
            self.take("op", "(")
            items = [self.take("str")[1:-1].replace("''", "'")]
            while self.accept("op", ","):
                items.append(self.take("str")[1:-1].replace("''", "'"))
            self.take("op", ")")
            def in_(pr):  # noqa: E306
                x = left(pr)
                return None if x is None else ((x in items) != neg)
            return in_
        if neg:
            self.fail(p, "expected BETWEEN or IN after NOT")
        return left

    def value(self):
        k, v, p = self.peek()
        if k == "op" and v == "(":
            self.i += 1
            fn = self.or_()
            self.take("op", ")")
            return fn
        self.i += 1
        if k == "num":
            d = Decimal(v)
            return lambda pr: d
        if k == "str":
            s = v[1:-1].replace("''", "'")
            return lambda pr: s
        if k == "kw" and v in ("TRUE", "FALSE"):
            b = v == "TRUE"
            return lambda pr: b
        if k == "word":
            return lambda pr: pr.get(v)
        self.i -= 1
        self.fail(p, f"unexpected {v or 'end'}")
        raise AssertionError  # unreachable


@lru_cache(maxsize=1024)
def compile(text: str) -> Expr:  # noqa: A001 - the public name the broker and clients use
    """Compile ``text`` (cached, bounded); a malformed one raises SqlSyntaxError."""
    if not text or not text.strip():
        raise SqlSyntaxError("bad SQL92 expression: empty")
    return Expr(text, _Parser(text).parse())
