"""Request signing as Java 4.9's AclClientRPCHook / AclUtils: the signed content is the values
of the ext fields sorted by key (``Signature`` left out) followed by the body bytes; the
signature is base64(HMAC-SHA1(secretKey, content))."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, replace

from pyrmq.protocol.command import RemotingCommand

ACCESS_KEY = "AccessKey"
SECRET_KEY = "SecretKey"
SIGNATURE = "Signature"
SECURITY_TOKEN = "SecurityToken"
#: left out of the server's content as in 4.9 (MixAll.UNIQUE_MSG_QUERY_FLAG)
UNIQUE_MSG_QUERY_FLAG = "_UNIQUE_KEY_QUERY"


@dataclass(frozen=True, slots=True)
class SessionCredentials:
    """An account's keys (Java's SessionCredentials); ``security_token`` is optional."""

    access_key: str
    secret_key: str
    security_token: str | None = None


def content(fields: Mapping[str, str], body: bytes | None,
            skip: frozenset[str] = frozenset((SIGNATURE,))) -> bytes:
    """The bytes a signature covers: sorted-by-key field values, then the body."""
    text = "".join(fields[k] for k in sorted(fields) if k not in skip)
    return text.encode("utf-8") + (body or b"")


def signature(data: bytes, secret_key: str) -> str:
    """base64(HMAC-SHA1(secret_key, data)), as AclSigner.calSignature."""
    mac = hmac.new(secret_key.encode("utf-8"), data, hashlib.sha1).digest()
    return base64.b64encode(mac).decode("ascii")


def sign(cmd: RemotingCommand, creds: SessionCredentials) -> RemotingCommand:
    """``cmd`` with AccessKey, SecurityToken (when set) and its Signature added."""
    fields = dict(cmd.ext_fields)
    fields[ACCESS_KEY] = creds.access_key
    if creds.security_token is not None:
        fields[SECURITY_TOKEN] = creds.security_token
    fields.pop(SIGNATURE, None)
    fields[SIGNATURE] = signature(content(fields, cmd.body), creds.secret_key)
    return replace(cmd, ext_fields=fields)
