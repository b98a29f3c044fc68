"""The group's etcd keys (pyrmq.failover.group) against a fake etcd that evaluates the same
txn JSON the gateway gets: one winner per promotion, the epoch bumped in the same txn, a
campaign from a stale view refused, leases taking their keys with them."""

from __future__ import annotations

import asyncio
import base64

from pyrmq.failover import etcd as E
from pyrmq.failover.group import GroupKeys
from pyrmq.failover.rules import Epochs, Member, candidate


class FakeEtcd:
    """Keys with revisions and leases; txn compares CREATE / MOD / VALUE with EQUAL."""

    def __init__(self) -> None:
        self.rev = 1
        self.kv: dict[bytes, E.KeyValue] = {}

    def expire(self, lease: int) -> None:
        self.kv = {k: v for k, v in self.kv.items() if v.lease != lease}
        self.rev += 1

    async def get_prefix(self, prefix: bytes):
        return [v for k, v in sorted(self.kv.items()) if k.startswith(prefix)], self.rev

    async def put(self, key: bytes, value: bytes, lease: int = 0) -> None:
        self.rev += 1
        old = self.kv.get(key)
        self.kv[key] = E.KeyValue(key, value, old.create_revision if old else self.rev,
                                  self.rev, lease)

    async def txn(self, compare, success, failure=None) -> bool:
        ok = all(self._holds(c) for c in compare)
        if ok:
            for op in success:
                put = op["request_put"]
                await self.put(base64.b64decode(put["key"]), base64.b64decode(put["value"]),
                               int(put.get("lease", 0)))
        return ok

    def _holds(self, c) -> bool:
        kv = self.kv.get(base64.b64decode(c["key"]))
        assert c["result"] == "EQUAL"
        if c["target"] == "CREATE":
            return (kv.create_revision if kv else 0) == int(c["create_revision"])
        if c["target"] == "MOD":
            return (kv.mod_revision if kv else 0) == int(c["mod_revision"])
        return kv is not None and kv.value == base64.b64decode(c["value"])


def _m(name: str, offset: int, epoch: int = 0, role: str = "SLAVE") -> Member:
    return Member(name, name, name + "h", offset, epoch, role)


def test_two_campaigns_from_the_same_view_have_one_winner_and_the_epoch_moves_once():
    async def main():
        fake = FakeEtcd()
        g = GroupKeys(fake, "/p", "C", "b")
        a, b = _m("a:1", 100), _m("b:1", 100)
        await g.publish(a, lease=11)
        await g.publish(b, lease=12)
        view = await g.read_view()
        nxt = view.epochs.next(100)
        won = [await g.campaign(view, a, nxt, 11), await g.campaign(view, b, nxt, 12)]
        after = await g.read_view()
        return won, after

    won, after = asyncio.run(main())
    assert won == [True, False]
    assert after.leader is not None and after.leader.name == "a:1"
    assert after.epochs == Epochs(1, ((1, 100),))
    assert {m.name for m in after.members} == {"a:1", "b:1"}


def test_the_leader_key_goes_with_its_lease_and_a_stale_view_cannot_win():
    async def main():
        fake = FakeEtcd()
        g = GroupKeys(fake, "/p", "C", "b")
        a, b = _m("a:1", 100), _m("b:1", 100)
        await g.publish(a, 11)
        await g.publish(b, 12)
        v0 = await g.read_view()
        assert await g.campaign(v0, a, v0.epochs.next(100), 11)
        fake.expire(11)  # a dies: its leader and member keys go
        v1 = await g.read_view()
        assert v1.leader is None and [m.name for m in v1.members] == ["b:1"]
        b2 = _m("b:1", 100, epoch=1)
        assert candidate(v1, b2)
        assert not await g.campaign(v0, b2, v0.epochs.next(100), 12)  # view before epoch 1
        assert await g.campaign(v1, b2, v1.epochs.next(100), 12)
        return await g.read_view()

    v = asyncio.run(main())
    assert v.leader is not None and v.leader.name == "b:1"
    assert v.epochs.history == ((1, 100), (2, 100))


def test_the_ack_point_outlives_the_master_and_blocks_a_lagging_slave():
    async def main():
        fake = FakeEtcd()
        g = GroupKeys(fake, "/p", "C", "b")
        await g.publish(_m("m:1", 900, 1, "MASTER"), 11)
        await g.publish_ack(1, 900)
        fake.expire(11)
        v = await g.read_view()
        return v

    v = asyncio.run(main())
    assert v.ack_point == 900
    assert not candidate(v, _m("s:1", 800, epoch=0))


def test_a_garbled_member_record_is_skipped():
    async def main():
        fake = FakeEtcd()
        g = GroupKeys(fake, "/p", "C", "b")
        await fake.put(g.member_key("x"), b"not json", 1)
        await g.publish(_m("a:1", 1), 2)
        return await g.read_view()

    assert [m.name for m in asyncio.run(main()).members] == ["a:1"]


def test_prefix_end():
    assert E.prefix_end(b"/p/C/b/") == b"/p/C/b0"
    assert E.prefix_end(b"a\xff") == b"b"
