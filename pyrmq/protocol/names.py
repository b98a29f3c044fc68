"""Topic and group names: RocketMQ 4.9's rules (TopicValidator, Validators), the one check every
name from the wire passes before it reaches a manager, a config file or the store, where a topic
becomes a directory name.

- topic: ``^[%|a-zA-Z0-9_-]+$``, at most 127 characters;
- group: the same characters, at most 255; a group whose ``%RETRY%`` / ``%DLQ%`` topic would not
  be a valid topic is refused where those topics are built (:func:`group_topics_problem`).

None of the allowed characters is a path separator or a dot, so a valid name is always one
directory entry under its parent: no ``..``, no ``/``, no NUL, no surrogate.
"""

from __future__ import annotations

import re

from pyrmq.protocol.codes import ResponseCode
from pyrmq.protocol.errors import RemoteProtocolError

TOPIC_MAX_LENGTH = 127
GROUP_MAX_LENGTH = 255
RETRY_PREFIX = "%RETRY%"
DLQ_PREFIX = "%DLQ%"
_CHARS = re.compile(r"[%|a-zA-Z0-9_-]+")
_ALLOWED = "^[%|a-zA-Z0-9_-]+$"

# Names seen valid recently: the check is on every send and pull, most names repeat.
_VALID_TOPICS: set[str] = set()
_VALID_GROUPS: set[str] = set()
_CACHE_MAX = 4096


def _shown(name: object) -> str:
    text = repr(name)
    return text if len(text) <= 80 else text[:76] + "...'"


def _problem(kind: str, name: object, max_len: int) -> str | None:
    if not isinstance(name, str) or not name or not name.strip():
        return f"The specified {kind} is blank."
    if len(name) > max_len:
        return f"The specified {kind} is longer than {kind} max length {max_len}."
    if not _CHARS.fullmatch(name):  # fullmatch: "$" alone would let a trailing newline in
        return (f"The specified {kind}[{_shown(name)}] contains illegal characters, "
                f"allowing only {_ALLOWED}")
    return None


def topic_problem(topic: object) -> str | None:
    """None when ``topic`` is a valid topic name, else the reason (TopicValidator's text)."""
    if topic in _VALID_TOPICS:
        return None
    bad = _problem("topic", topic, TOPIC_MAX_LENGTH)
    if bad is None:
        if len(_VALID_TOPICS) >= _CACHE_MAX:
            _VALID_TOPICS.clear()
        _VALID_TOPICS.add(topic)  # type: ignore[arg-type]
    return bad


def group_problem(group: object) -> str | None:
    """None when ``group`` is a valid consumer/producer group name, else the reason."""
    if group in _VALID_GROUPS:
        return None
    bad = _problem("group", group, GROUP_MAX_LENGTH)
    if bad is None:
        if len(_VALID_GROUPS) >= _CACHE_MAX:
            _VALID_GROUPS.clear()
        _VALID_GROUPS.add(group)  # type: ignore[arg-type]
    return bad


def group_topics_problem(group: object) -> str | None:
    """None when ``group`` is valid and its retry and DLQ topics are valid topics."""
    bad = group_problem(group)
    if bad is None:
        bad = topic_problem(RETRY_PREFIX + group) or topic_problem(DLQ_PREFIX + group)  # type: ignore[operator]
        if bad is not None:
            bad = f"the group's retry/DLQ topic is not a valid topic: {bad}"
    return bad


def check_topic(topic: object, code: int = ResponseCode.SYSTEM_ERROR) -> str:
    """``topic`` if valid, else RemoteProtocolError (answered with ``code``)."""
    bad = topic_problem(topic)
    if bad is not None:
        raise RemoteProtocolError(bad, response_code=code)
    return topic  # type: ignore[return-value]


def check_group(group: object, code: int = ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST) -> str:
    """``group`` if valid, else RemoteProtocolError (answered with ``code``)."""
    bad = group_problem(group)
    if bad is not None:
        raise RemoteProtocolError(f"subscription group not valid: {bad}", response_code=code)
    return group  # type: ignore[return-value]
