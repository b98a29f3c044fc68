"""Who is connected: producer and consumer groups (from heartbeats), their subscriptions, the
batch lock table of orderly consumers. Channels are remoting connections."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from pyrmq.protocol.bodies import ConsumerData, SubscriptionData
from pyrmq.remoting import Connection

LOCK_LEASE_S = 60.0


@dataclass(slots=True)
class ClientChannel:
    client_id: str
    conn: Connection
    last_update: float


@dataclass(slots=True)
class ConsumerGroupInfo:
    group: str
    consume_type: str = "CONSUME_PASSIVELY"
    message_model: str = "CLUSTERING"
    consume_from_where: str = "CONSUME_FROM_LAST_OFFSET"
    channels: dict[int, ClientChannel] = field(default_factory=dict)   # conn id -> channel
    subscriptions: dict[str, SubscriptionData] = field(default_factory=dict)

    def client_ids(self) -> list[str]:
        return sorted({c.client_id for c in self.channels.values()})


class ConsumerManager:
    def __init__(self) -> None:
        self.groups: dict[str, ConsumerGroupInfo] = {}

    def register(self, conn: Connection, client_id: str, data: ConsumerData) -> bool:
        """Record a heartbeat; True when the group's members or subscriptions changed."""
        info = self.groups.get(data.group)
        if info is None:
            info = self.groups[data.group] = ConsumerGroupInfo(data.group)
        info.consume_type = data.consume_type
        info.message_model = data.message_model
        info.consume_from_where = data.consume_from_where
        changed = conn.id not in info.channels
        info.channels[conn.id] = ClientChannel(client_id, conn, time.monotonic())
        subs = {s.topic: s for s in data.subscriptions}
        old = {t: s.sub_string for t, s in info.subscriptions.items()}
        if old != {t: s.sub_string for t, s in subs.items()}:
            changed = True
        for topic, s in subs.items():
            prev = info.subscriptions.get(topic)
            if prev is None or prev.sub_version <= s.sub_version:
                info.subscriptions[topic] = s
        for topic in [t for t in info.subscriptions if t not in subs]:
            del info.subscriptions[topic]
        return changed

    def unregister(self, group: str, conn: Connection) -> bool:
        info = self.groups.get(group)
        if info is None or info.channels.pop(conn.id, None) is None:
            return False
        if not info.channels:
            del self.groups[group]
        return True

    def connection_closed(self, conn: Connection) -> list[str]:
        """Remove the connection everywhere; returns the groups that lost a member."""
        return [g for g in list(self.groups) if self.unregister(g, conn)]

    def expire(self, max_idle: float) -> list[str]:
        now, out = time.monotonic(), []
        for g, info in list(self.groups.items()):
            for cid, ch in list(info.channels.items()):
                if now - ch.last_update > max_idle:
                    del info.channels[cid]
                    out.append(g)
            if not info.channels:
                del self.groups[g]
        return sorted(set(out))

    def subscription(self, group: str, topic: str) -> SubscriptionData | None:
        info = self.groups.get(group)
        return info.subscriptions.get(topic) if info else None


class ProducerManager:
    def __init__(self) -> None:
        self.groups: dict[str, dict[int, ClientChannel]] = {}

    def register(self, conn: Connection, client_id: str, group: str) -> None:
        self.groups.setdefault(group, {})[conn.id] = ClientChannel(client_id, conn,
                                                                   time.monotonic())

    def unregister(self, group: str, conn: Connection) -> None:
        chans = self.groups.get(group)
        if chans is not None:
            chans.pop(conn.id, None)
            if not chans:
                del self.groups[group]

    def connection_closed(self, conn: Connection) -> None:
        for g in list(self.groups):
            self.unregister(g, conn)


class LockManager:
    """RebalanceLockManager: (group, topic, broker, queue) -> (client id, lease expiry)."""

    def __init__(self, lease_s: float = LOCK_LEASE_S) -> None:
        self.lease_s = lease_s
        self.locks: dict[tuple[str, str, str, int], tuple[str, float]] = {}

    def lock(self, group: str, client_id: str, mqs: list[tuple[str, str, int]]
             ) -> list[tuple[str, str, int]]:
        now, ok = time.monotonic(), []
        for topic, broker, qid in mqs:
            key = (group, topic, broker, qid)
            held = self.locks.get(key)
            if held is None or held[0] == client_id or held[1] < now:
                self.locks[key] = (client_id, now + self.lease_s)
                ok.append((topic, broker, qid))
        return ok

    def unlock(self, group: str, client_id: str, mqs: list[tuple[str, str, int]]) -> None:
        for topic, broker, qid in mqs:
            key = (group, topic, broker, qid)
            held = self.locks.get(key)
            if held is not None and held[0] == client_id:
                del self.locks[key]
