"""The client's view of a route: one model (protocol TopicRouteData, protocol MessageQueue)."""

import pyrmq.client
from pyrmq.client import MessageQueue
from pyrmq.client.route import Route
from pyrmq.protocol import admin
from pyrmq.protocol.route import BrokerData, QueueData, TopicRouteData

DATA = TopicRouteData(
    [QueueData("b", 2, 3, 6), QueueData("a", 2, 2, 4), QueueData("c", 1, 1, 6)],
    [BrokerData("C", "a", {0: "a:1"}), BrokerData("C", "b", {0: "b:1", 1: "b:2"}),
     BrokerData("C", "c", {2: "c:3", 1: "c:2"})])


def test_one_message_queue_and_no_client_route_type():
    assert MessageQueue is admin.MessageQueue
    assert not hasattr(pyrmq.client, "TopicRoute")


def test_publish_queues_need_write_perm_and_a_master():
    r = Route("T", TopicRouteData.from_json(DATA.to_json()))
    # a is read-only, c has no master: only b's three write queues
    assert r.publish_queues() == [MessageQueue("T", "b", i) for i in range(3)]


def test_subscribe_queues_sorted_and_addresses():
    r = Route("T", DATA)
    assert r.subscribe_queues() == sorted(
        [MessageQueue("T", "a", 0), MessageQueue("T", "a", 1), MessageQueue("T", "b", 0),
         MessageQueue("T", "b", 1), MessageQueue("T", "c", 0)])
    assert r.master("b") == "b:1" and r.master("c") is None and r.master("zz") is None
    assert r.any_addr("c") == "c:2"  # no master: the lowest-id slave
    assert r.any_addr("zz") is None
    assert r.broker_addrs["b"] == {0: "b:1", 1: "b:2"}
    r.publish_queues().clear()  # callers get a copy
    assert len(r.publish_queues()) == 3
