"""plain_acl.yml (4.9's format) -> :class:`AclConfig`. Parsing is pure; loading a file is one
function. A file 4.9 would refuse raises :class:`AclConfigError` naming what is wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from pyrmq.acl.address import AddressPattern, AddressPatternError, parse_address

DENY, ANY, PUB, SUB = 1, 2, 4, 8
RETRY_PREFIX = "%RETRY%"
_PERMS = {"DENY": DENY, "PUB": PUB, "SUB": SUB, "PUB|SUB": PUB | SUB, "SUB|PUB": PUB | SUB}
#: 4.9 refuses an accessKey or secretKey of this length or shorter
KEY_MIN_LENGTH = 6


class AclConfigError(ValueError):
    """plain_acl.yml is not valid."""


@dataclass(frozen=True, slots=True)
class Account:
    """One ``accounts`` entry. ``perms`` keys are topics and ``%RETRY%<group>`` for groups."""

    access_key: str
    secret_key: str
    white: AddressPattern | None = None
    admin: bool = False
    default_topic_perm: int = DENY
    default_group_perm: int = DENY
    perms: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AclConfig:
    """The whole file: global white addresses and accounts by access key."""

    global_white: tuple[AddressPattern, ...] = ()
    accounts: dict[str, Account] = field(default_factory=dict)


def parse_perm(text: object) -> int:
    """``PUB``, ``SUB``, ``PUB|SUB``, ``SUB|PUB`` or ``DENY``; anything else is DENY (4.9)."""
    return _PERMS.get(str(text).strip(), DENY) if text is not None else DENY


def _resource_perms(items: Any, group: bool, ak: str) -> dict[str, int]:
    if items is None:
        return {}
    if not isinstance(items, list):
        raise AclConfigError(f"account {ak}: {'groupPerms' if group else 'topicPerms'} "
                             "must be a list")
    out: dict[str, int] = {}
    for item in items:
        name, eq, perm = str(item).partition("=")
        if not eq or not name.strip() or "=" in perm:
            raise AclConfigError(f"account {ak}: bad resource permission {item!r} "
                                 "(want Res=Perm, e.g. topicA=SUB)")
        p = perm.strip()
        if p not in _PERMS:
            raise AclConfigError(f"account {ak}: bad permission in {item!r} (want SUB, PUB, "
                                 "SUB|PUB, PUB|SUB or DENY)")
        out[(RETRY_PREFIX if group else "") + name.strip()] = _PERMS[p]
    return out


def _account(raw: Any) -> Account:
    if not isinstance(raw, dict):
        raise AclConfigError(f"accounts entry {raw!r} is not a mapping")
    ak, sk = raw.get("accessKey"), raw.get("secretKey")
    if ak is None or sk is None or len(str(ak)) <= KEY_MIN_LENGTH \
            or len(str(sk)) <= KEY_MIN_LENGTH:
        raise AclConfigError(f"accessKey={ak} and secretKey={sk} cannot be null and length "
                             f"should be longer than {KEY_MIN_LENGTH}")
    ak = str(ak)
    perms = _resource_perms(raw.get("topicPerms"), False, ak)
    perms.update(_resource_perms(raw.get("groupPerms"), True, ak))
    return Account(ak, str(sk), parse_address(_text(raw.get("whiteRemoteAddress"))),
                   bool(raw.get("admin", False)), parse_perm(raw.get("defaultTopicPerm")),
                   parse_perm(raw.get("defaultGroupPerm")), perms)


def _text(v: Any) -> str | None:
    return None if v is None else str(v)


def parse_acl(text: str) -> AclConfig:
    """Parse plain_acl.yml's text."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise AclConfigError(f"not YAML: {e}") from None
    if doc is None:
        return AclConfig()
    if not isinstance(doc, dict):
        raise AclConfigError("top level must be a mapping")
    try:
        white = tuple(p for p in (parse_address(_text(a))
                                  for a in doc.get("globalWhiteRemoteAddresses") or [])
                      if p is not None)
        accounts: dict[str, Account] = {}
        for raw in doc.get("accounts") or []:
            acc = _account(raw)
            if acc.access_key in accounts:
                raise AclConfigError(f"accessKey {acc.access_key} appears twice")
            accounts[acc.access_key] = acc
    except AddressPatternError as e:
        raise AclConfigError(str(e)) from None
    return AclConfig(white, accounts)


def load_acl(path: str) -> AclConfig:
    """Read and parse ``path`` (OSError / AclConfigError on failure)."""
    with open(path, encoding="utf-8") as f:
        return parse_acl(f.read())
