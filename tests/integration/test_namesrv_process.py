"""A NameServer process: registration, routes, expiry, failover between two NameServers."""

from __future__ import annotations

import asyncio
import time

from rmqtest.procs import start_namesrv

from pyrmq.protocol import jsonx
from pyrmq.protocol.bodies import TopicConfig, register_broker_body
from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import request
from pyrmq.remoting import RemotingClient


def _register(addr_b: str, topics: list[str]):
    body = register_broker_body({t: TopicConfig(t, 4, 4) for t in topics},
                                {"counter": 1, "timestamp": 1})
    return request(RequestCode.REGISTER_BROKER, {
        "brokerName": "b1", "brokerAddr": addr_b, "clusterName": "C", "haServerAddr": "",
        "brokerId": 0, "compressed": False, "bodyCrc32": 0}, body)


def test_register_route_expire(tmp_path):
    ns = start_namesrv(tmp_path, scan_interval=0.3, broker_expiry=1.0)
    try:
        async def main():
            c = RemotingClient()
            a = f"127.0.0.1:{ns.port}"
            r = await c.invoke(a, _register("127.0.0.1:10911", ["Alpha"]))
            assert r.code == ResponseCode.SUCCESS
            # register from a second connection that stays silent: it expires
            r = await c.invoke(a, request(RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": "Alpha"}))
            assert r.code == 0
            route = jsonx.loads(r.body)
            assert route["queueDatas"][0]["writeQueueNums"] == 4
            assert route["brokerDatas"][0]["brokerAddrs"] == {"0": "127.0.0.1:10911"}
            r = await c.invoke(a, request(RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": "Nope"}))
            assert r.code == ResponseCode.TOPIC_NOT_EXIST and "Nope" in r.remark
            r = await c.invoke(a, request(RequestCode.GET_BROKER_CLUSTER_INFO))
            assert jsonx.loads(r.body)["clusterAddrTable"] == {"C": ["b1"]}
            r = await c.invoke(a, request(999))
            assert r.code == ResponseCode.REQUEST_CODE_NOT_SUPPORTED
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                r = await c.invoke(a, request(RequestCode.GET_ROUTEINFO_BY_TOPIC,
                                              {"topic": "Alpha"}))
                if r.code == ResponseCode.TOPIC_NOT_EXIST:
                    break
                await asyncio.sleep(0.2)
            assert r.code == ResponseCode.TOPIC_NOT_EXIST  # broker silent > expiry: gone
            await c.close()

        asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        ns.stop()


def test_two_nameservers_compressed_register_and_failover(tmp_path):
    from pyrmq.client import NameServerClient
    from pyrmq.protocol.bodies import encode_register_broker_body_compressed

    ns1, ns2 = start_namesrv(tmp_path), start_namesrv(tmp_path)
    try:
        async def main():
            c = RemotingClient()
            body = encode_register_broker_body_compressed({"Beta": TopicConfig("Beta", 2, 2)},
                                                          {"counter": 1, "timestamp": 1})
            for ns in (ns1, ns2):
                r = await c.invoke(f"127.0.0.1:{ns.port}", request(
                    RequestCode.REGISTER_BROKER, {
                        "brokerName": "b1", "brokerAddr": "127.0.0.1:10911",
                        "clusterName": "C", "haServerAddr": "", "brokerId": 0,
                        "compressed": True, "bodyCrc32": 0}, body))
                assert r.code == ResponseCode.SUCCESS
            # (the registering connection stays open: closing it unregisters the broker)
            nsc = NameServerClient([f"127.0.0.1:{ns1.port}", f"127.0.0.1:{ns2.port}"])
            assert (await nsc.get_route("Beta")).publish_queues()[1].queue_id == 1
            ns1.kill9() if nsc.addrs[nsc._current].endswith(str(ns1.port)) else ns2.kill9()
            route = await nsc.get_route("Beta")  # fails over to the survivor
            assert [q.queue_id for q in route.publish_queues()] == [0, 1]
            await nsc.remoting.close()
            await c.close()

        asyncio.run(asyncio.wait_for(main(), 30))
    finally:
        ns1.stop()
        ns2.stop()
