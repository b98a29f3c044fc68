"""The broker-side check of 4.9's PlainAccessValidator (pure: no I/O). :func:`needed` says which
resources a request needs (a topic, or ``%RETRY%<group>`` for a group) and :func:`check`
answers None (allowed) or the refusal text 4.9 gives."""

from __future__ import annotations

import hmac

from pyrmq.acl.config import ANY, DENY, PUB, RETRY_PREFIX, SUB, AclConfig
from pyrmq.acl.sign import (
    ACCESS_KEY,
    SIGNATURE,
    UNIQUE_MSG_QUERY_FLAG,
    content,
    signature,
)
from pyrmq.protocol.bodies import parse_heartbeat
from pyrmq.protocol.codes import RequestCode as RC
from pyrmq.protocol.command import RemotingCommand

TRACE_TOPIC = "RMQ_SYS_TRACE_TOPIC"
#: codes only an admin account may send (4.9's Permission.ADMIN_CODE)
ADMIN_CODES = frozenset((RC.UPDATE_AND_CREATE_TOPIC, RC.UPDATE_BROKER_CONFIG,
                         RC.DELETE_TOPIC_IN_BROKER, RC.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
                         RC.DELETE_SUBSCRIPTIONGROUP))
_SKIP = frozenset((SIGNATURE, UNIQUE_MSG_QUERY_FLAG))


def _group(name: str | None) -> str:
    return RETRY_PREFIX + (name or "")


def _send(topic: str | None, group: str | None) -> dict[str, int]:
    if topic and topic.startswith(RETRY_PREFIX):  # a send back to the group's retry topic
        return {_group(group): SUB}
    return {topic or "": PUB}


def needed(cmd: RemotingCommand) -> dict[str, int]:
    """Resource -> permission ``cmd`` needs (4.9's PlainAccessValidator.parse)."""
    f = cmd.ext_fields
    code = cmd.code
    if code == RC.SEND_MESSAGE:
        return _send(f.get("topic"), f.get("producerGroup"))
    if code in (RC.SEND_MESSAGE_V2, RC.SEND_BATCH_MESSAGE):
        return _send(f.get("b"), f.get("a"))
    if code == RC.CONSUMER_SEND_MSG_BACK:
        return {_group(f.get("group")): SUB}
    if code == RC.PULL_MESSAGE:
        return {f.get("topic", ""): SUB, _group(f.get("consumerGroup")): SUB}
    if code == RC.QUERY_MESSAGE:
        return {f.get("topic", ""): SUB}
    if code == RC.HEART_BEAT:
        out: dict[str, int] = {}
        for c in parse_heartbeat(cmd.body).consumers:
            out[_group(c.group)] = SUB
            for s in c.subscriptions:
                out[s.topic] = SUB
        return out
    if code in (RC.UNREGISTER_CLIENT, RC.GET_CONSUMER_LIST_BY_GROUP):
        g = f.get("consumerGroup")
        return {_group(g): SUB} if g else {}
    if code in (RC.UPDATE_CONSUMER_OFFSET, RC.QUERY_CONSUMER_OFFSET):
        return {_group(f.get("consumerGroup")): SUB, f.get("topic", ""): SUB}
    return {}


def allows(needed_perm: int, owned: int) -> bool:
    """4.9's Permission.checkPermission."""
    if owned & DENY:
        return False
    if needed_perm & ANY:
        return bool(owned & (PUB | SUB))
    return bool(needed_perm & owned)


def _show(resource: str) -> str:
    if resource.startswith(RETRY_PREFIX):
        return f"group:{resource[len(RETRY_PREFIX):]}"
    return f"topic:{resource}"


def check(acl: AclConfig, cmd: RemotingCommand, remote_ip: str) -> str | None:
    """None when ``cmd`` from ``remote_ip`` is allowed, else why not (4.9's wording)."""
    if any(p.match(remote_ip) for p in acl.global_white):
        return None
    ak = cmd.ext_fields.get(ACCESS_KEY)
    if ak is None:
        return "No accessKey is configured"
    acc = acl.accounts.get(ak)
    if acc is None:
        return f"No acl config for {ak}"
    if acc.white is not None and acc.white.match(remote_ip):
        return None
    want = signature(content(cmd.ext_fields, cmd.body, _SKIP), acc.secret_key)
    got = cmd.ext_fields.get(SIGNATURE, "").encode("utf-8", "replace")
    if not hmac.compare_digest(want.encode("ascii"), got):
        return f"Check signature failed for accessKey={ak}"
    if cmd.code in ADMIN_CODES and not acc.admin:
        return f"Need admin permission for request code={cmd.code}, but accessKey={ak} is not"
    need = needed(cmd)
    if need.get(TRACE_TOPIC) == PUB:
        return None
    if not acc.perms and acc.admin:
        return None
    for res, perm in need.items():
        owned = acc.perms.get(res)
        if owned is None:
            owned = acc.default_group_perm if res.startswith(RETRY_PREFIX) \
                else acc.default_topic_perm
        if not allows(perm, owned):
            return f"No default permission for {_show(res)}"
    return None
