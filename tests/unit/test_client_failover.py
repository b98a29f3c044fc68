"""Which address of a broker group a consumer uses: the suggested broker id, the master, or a
slave while the master's connection is refused or lost (no sockets)."""

from __future__ import annotations

import pytest

from pyrmq.client import base
from pyrmq.client.base import ConsumerBase
from pyrmq.client.route import Route
from pyrmq.protocol.route import BrokerData, QueueData, TopicRouteData
from pyrmq.remoting import RemotingConnectError, RemotingError, RemotingTimeoutError

DATA = TopicRouteData([QueueData("b", 4, 4, 6)],
                      [BrokerData("C", "b", {0: "m:1", 1: "s:1", 2: "s:2"})])


@pytest.fixture
def client():
    c = ConsumerBase("G", "127.0.0.1:1", "T")
    c.routes["T"] = Route("T", DATA)
    return c


def test_master_by_default_and_the_suggested_id_when_given(client):
    assert client.choose_addr("b") == "m:1"
    assert client.choose_addr("b", 2) == "s:2"
    assert client.choose_addr("b", 7) == "m:1"  # an id the route does not name: the master


def test_a_refused_master_is_passed_over_then_probed_again(client, monkeypatch):
    now = [100.0]
    monkeypatch.setattr(base.time, "monotonic", lambda: now[0])
    client.mark_down("m:1", RemotingConnectError("refused"))
    assert client.choose_addr("b") == "s:1"
    client.mark_down("s:1", RemotingConnectError("refused"))
    assert client.choose_addr("b") == "s:2"
    now[0] += base.DOWN_S
    assert client.choose_addr("b") == "m:1"  # due for a probe


def test_a_timeout_is_not_a_down_broker(client):
    client.mark_down("m:1", RemotingTimeoutError("slow"))
    assert client.choose_addr("b") == "m:1"


def test_all_down_probes_the_preferred_one_and_unknown_broker_is_an_error(client):
    for a in ("m:1", "s:1", "s:2"):
        client.mark_down(a, RemotingConnectError("refused"))
    assert client.choose_addr("b", 1) == "s:1"
    with pytest.raises(RemotingError):
        client.choose_addr("nope")
