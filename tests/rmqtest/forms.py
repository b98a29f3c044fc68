"""Value shapes of Java 4.9.8's GET_BROKER_RUNTIME_INFO strings, so pyrmq's answer can be
compared with the captured one key by key without comparing the numbers."""

from __future__ import annotations

import re

_NUM = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_SHAPES = (
    ("null", re.compile(r"null")),
    ("int", re.compile(r"-?\d+")),
    ("float", re.compile(r"-?\d+\.\d+(?:[eE][-+]?\d+)?")),
    ("tps", re.compile(rf"{_NUM} (?:{_NUM})? ?(?:{_NUM})?")),
    ("bytes", re.compile(r"\d+(?:\.\d)? (?:[KMGTPE]i)?B")),
    ("runtime", re.compile(r"\[ \d+ days, \d+ hours, \d+ minutes, \d+ seconds \]")),
    ("capacity", re.compile(r"Total : \d+(?:\.\d)? (?:[KMGTPE]i)?B, "
                            r"Free : \d+(?:\.\d)? (?:[KMGTPE]i)?B\.")),
    ("version", re.compile(r"V\d+_\d+_\d+")),
)


def value_shape(value: str) -> str:
    """The kind of a runtime-info value: int, float, "x y z" tps, "1.5 KiB", ..."""
    for kind, rx in _SHAPES:
        if rx.fullmatch(value):
            return kind
    return "text:" + value
