"""A topic's route as the client uses it: ``protocol.route.TopicRouteData`` (the one route
model) plus the topic name, with the queues and broker addresses worked out once when the
route arrives, since the send path asks for them on every message."""

from __future__ import annotations

from pyrmq.protocol.admin import MessageQueue
from pyrmq.protocol.codes import PermName
from pyrmq.protocol.route import TopicRouteData


class Route:
    """``TopicRouteData`` of ``topic``: publishable / subscribable queues and broker addresses."""

    __slots__ = ("topic", "data", "broker_addrs", "_publish", "_subscribe")

    def __init__(self, topic: str, data: TopicRouteData) -> None:
        self.topic = topic
        self.data = data
        #: brokerName -> {brokerId: addr}; id 0 is the master
        self.broker_addrs: dict[str, dict[int, str]] = {
            b.broker_name: dict(b.broker_addrs) for b in data.broker_datas}
        # writable queues of brokers with a master, grouped by broker (Java's publish order)
        self._publish = tuple(
            MessageQueue(topic, qd.broker_name, i)
            for qd in sorted(data.queue_datas, key=lambda q: q.broker_name)
            if qd.perm & PermName.WRITE and 0 in self.broker_addrs.get(qd.broker_name, {})
            for i in range(qd.write_queue_nums))
        self._subscribe = tuple(sorted(
            MessageQueue(topic, qd.broker_name, i) for qd in data.queue_datas
            if qd.perm & PermName.READ for i in range(qd.read_queue_nums)))

    def publish_queues(self) -> list[MessageQueue]:
        """Queues a producer may send to, by broker name then queue id."""
        return list(self._publish)

    def subscribe_queues(self) -> list[MessageQueue]:
        """Queues a consumer may pull from, sorted."""
        return list(self._subscribe)

    def master(self, broker_name: str) -> str | None:
        """The master's address of ``broker_name``, if it has one."""
        return self.broker_addrs.get(broker_name, {}).get(0)

    def any_addr(self, broker_name: str) -> str | None:
        """The master's address, else the lowest-id slave's (reads may go to a slave)."""
        addrs = self.broker_addrs.get(broker_name, {})
        return addrs.get(0) or (addrs[min(addrs)] if addrs else None)

    def __repr__(self) -> str:
        return f"Route({self.topic!r}, {self.data!r})"
