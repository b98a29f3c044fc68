"""The group's keys in etcd (layout in ``rules``): read them into a :class:`~rules.View`,
publish a member's status, publish the ack point, campaign. Takes any object with the
:class:`Etcd` methods, so unit tests drive it with a fake etcd."""

from __future__ import annotations

import json
from typing import Any, Protocol

from pyrmq.failover import etcd as E
from pyrmq.failover.rules import Epochs, Member, View, group_prefix


class Etcd(Protocol):
    """The part of :class:`~pyrmq.failover.etcd.EtcdClient` the group uses."""

    async def get_prefix(self, prefix: bytes) -> tuple[list[E.KeyValue], int]: ...

    async def put(self, key: bytes, value: bytes, lease: int = 0) -> None: ...

    async def txn(self, compare: list[dict[str, Any]], success: list[dict[str, Any]],
                  failure: list[dict[str, Any]] | None = None) -> bool: ...


class GroupKeys:
    """``<prefix>/<cluster>/<brokerName>/...`` of one broker group."""

    def __init__(self, etcd: Etcd, prefix: str, cluster: str, broker_name: str) -> None:
        self.etcd = etcd
        self.base = group_prefix(prefix, cluster, broker_name)
        self.leader_key = self.base + b"leader"
        self.epoch_key = self.base + b"epoch"
        self.ack_key = self.base + b"ackpoint"

    def member_key(self, name: str) -> bytes:
        return self.base + b"members/" + name.encode()

    async def read_view(self) -> View:
        """One consistent read of every key of the group (a single range request)."""
        kvs, _ = await self.etcd.get_prefix(self.base)
        leader, members, epochs, ack, epoch_rev = None, [], Epochs(), 0, 0
        for kv in kvs:
            sub = kv.key[len(self.base):]
            if sub == b"leader":
                leader = Member.decode(kv.value)
            elif sub.startswith(b"members/"):
                m = Member.decode(kv.value)
                if m is not None:
                    members.append(m)
            elif sub == b"epoch":
                try:
                    epochs, epoch_rev = Epochs.decode(kv.value), kv.mod_revision
                except (ValueError, KeyError, TypeError):
                    raise E.EtcdError(f"{kv.key!r} holds no epoch history: {kv.value!r}") \
                        from None
            elif sub == b"ackpoint":
                ack = _ack_offset(kv.value)
        return View(leader, tuple(members), epochs, ack, epoch_rev)

    async def publish(self, me: Member, lease: int) -> None:
        await self.etcd.put(self.member_key(me.name), me.encode(), lease)

    async def publish_ack(self, epoch: int, offset: int) -> None:
        """The SYNC_MASTER's acknowledged end; no lease, so it outlives the master."""
        await self.etcd.put(self.ack_key, json.dumps({"epoch": epoch, "offset": offset}).encode())

    async def campaign(self, view: View, leader: Member, nxt: Epochs, lease: int) -> bool:
        """Create the leader key (bound to ``lease``) and write the next epoch, both only if
        there is still no leader and the epoch is as ``view`` read it."""
        return await self.etcd.txn(
            [E.absent(self.leader_key), E.mod_revision_is(self.epoch_key, view.epoch_revision)],
            [E.put_op(self.leader_key, leader.encode(), lease),
             E.put_op(self.epoch_key, nxt.encode())])


def _ack_offset(data: bytes) -> int:
    try:
        return int(json.loads(data)["offset"])
    except (ValueError, KeyError, TypeError):
        return 0
