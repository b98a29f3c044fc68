"""The NameServer's route table, without sockets."""

from pyrmq.namesrv.routes import RouteTable
from pyrmq.protocol.bodies import TopicConfig


def _reg(rt, addr="127.0.0.1:10911", name="b1", bid=0, topics=("T",), now=0.0, ver=1):
    return rt.register(cluster="C", addr=addr, name=name, broker_id=bid, ha_addr=addr + "-ha",
                       version={"counter": ver, "timestamp": 1},
                       topics={t: TopicConfig(t, 4, 4) for t in topics}, now=now, conn_id=None)


def test_register_route_and_expiry():
    rt = RouteTable()
    _reg(rt)
    _reg(rt, "127.0.0.1:20911", "b2", topics=("T", "U"), now=50)
    qd, bd = rt.route("T")
    assert [q["brokerName"] for q in qd] == ["b1", "b2"]
    assert bd[0]["brokerAddrs"] == {"0": "127.0.0.1:10911"}
    assert rt.cluster_info()["clusterAddrTable"] == {"C": ["b1", "b2"]}
    assert rt.topic_list() == ["T", "U"]
    assert rt.expire(now=121, max_silence=120) == ["127.0.0.1:10911"]
    qd, _ = rt.route("T")
    assert [q["brokerName"] for q in qd] == ["b2"]
    assert rt.route("nope") is None


def test_slave_gets_master_and_topics_follow_master():
    rt = RouteTable()
    _reg(rt)
    master, ha = _reg(rt, "127.0.0.1:10921", "b1", bid=1, topics=("IGNORED",))
    assert (master, ha) == ("127.0.0.1:10911", "127.0.0.1:10911-ha")
    assert rt.route("IGNORED") is None  # only the master's topic table counts
    _, bd = rt.route("T")
    assert bd[0]["brokerAddrs"] == {"0": "127.0.0.1:10911", "1": "127.0.0.1:10921"}
    _reg(rt, topics=("T2",), ver=2)  # new data version: topic table replaced
    assert rt.route("T") is None and rt.route("T2") is not None
    assert rt.wipe_write_perm("b1") == 1
    assert rt.route("T2")[0][0]["perm"] == 4
    rt.unregister(cluster="C", addr="127.0.0.1:10911", name="b1", broker_id=0)
    _, bd = rt.route("T2")
    assert bd[0]["brokerAddrs"] == {"1": "127.0.0.1:10921"}
