"""Admin codes against a real broker with a live pyrmq PushConsumer: QUERY_TOPIC_CONSUME_BY_WHO
(300), GET_CONSUMER_RUNNING_INFO (307, relayed to the client), CONSUME_MESSAGE_DIRECTLY (309:
the client consumes the message again and its answer reaches the admin), GET_BROKER_CONSUME_STATS
(317), GET_BROKER_RUNTIME_INFO with every key of Java 4.9.8's answer; the CLI commands on top."""

from __future__ import annotations

import asyncio
import json
import sys

import pytest
from rmqtest.cluster import running_cluster
from rmqtest.forms import value_shape
from rmqtest.procs import REPO
from rmqtest.vectors import java_form

from pyrmq.client import ConsumeFrom, ConsumeStatus, Message, Producer, PushConsumer
from pyrmq.protocol import jsonx
from pyrmq.protocol.admin import ConsumeMessageDirectlyResult, KVTable
from pyrmq.protocol.codes import RequestCode as RC
from pyrmq.protocol.codes import ResponseCode
from pyrmq.protocol.command import request
from pyrmq.protocol.headers import (
    ConsumeMessageDirectlyResultRequestHeader,
    GetConsumerRunningInfoRequestHeader,
    GetConsumeStatsInBrokerHeader,
    QueryTopicConsumeByWhoRequestHeader,
)
from pyrmq.protocol.stats import ConsumerRunningInfo, ConsumeStatsList
from pyrmq.remoting import RemotingClient


@pytest.fixture
def cluster(tmp_path):
    with running_cluster(tmp_path) as c:
        yield c


async def _cli(cluster, *args: str) -> dict | list:
    """The CLI in a subprocess, awaited so this loop's consumer keeps answering."""
    p = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pyrmq", *args, "-n", cluster.ns_addr, "--json", cwd=REPO,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(p.communicate(), 60)
    assert p.returncode == 0, out.decode() + err.decode()
    return json.loads(out)


def test_relayed_admin_codes(cluster):
    seen: list[bytes] = []
    consumed = asyncio.Event()

    async def on_message(msg):
        seen.append(msg.body)
        if msg.body == b"boom" and len([b for b in seen if b == b"boom"]) > 1:
            raise RuntimeError("listener refused it")
        consumed.set()
        return ConsumeStatus.CONSUME_SUCCESS

    async def main() -> None:
        rc = RemotingClient()
        addr = cluster.broker_addr

        async def call(code, header, timeout=15.0):
            return await rc.invoke(addr, request(code, header), timeout)

        async with Producer("PG_REL", cluster.ns_addr) as p:
            sent = await p.send(Message("AdmRel", b"hello"))
            boom = await p.send(Message("AdmRel", b"boom"))
        c = PushConsumer("CG_REL", cluster.ns_addr, consume_from=ConsumeFrom.FIRST_OFFSET,
                         rebalance_interval=1.0)
        c.subscribe("AdmRel")
        c.listener = on_message
        async with c:
            for _ in range(200):
                if seen.count(b"hello") and seen.count(b"boom"):
                    break
                await asyncio.sleep(0.1)
            await c.commit_offsets()
            await c.heartbeat()

            # 300: the online group (and its offsets) consume the topic
            r = await call(RC.QUERY_TOPIC_CONSUME_BY_WHO,
                           QueryTopicConsumeByWhoRequestHeader("AdmRel"))
            assert r.code == ResponseCode.SUCCESS
            assert "CG_REL" in jsonx.loads(r.body)["groupList"]

            # 307: relayed to the client, answered with its running info
            r = await call(RC.GET_CONSUMER_RUNNING_INFO,
                           GetConsumerRunningInfoRequestHeader("CG_REL", c.client_id, False))
            assert r.code == ResponseCode.SUCCESS, r.remark
            info = ConsumerRunningInfo.from_json(r.body)
            assert info.properties["PROP_CONSUME_TYPE"] == "CONSUME_PASSIVELY"
            assert info.properties["PROP_CONSUMEORDERLY"] == "false"
            assert int(info.properties["PROP_CONSUMER_START_TIMESTAMP"]) > 0
            assert {s["topic"] for s in info.subscriptions} >= {"AdmRel"}
            assert {mq.topic for mq in info.mq_table} >= {"AdmRel"}
            assert b'"mqTable":{{"brokerName"' in r.body  # fastjson's keyed form

            # 309: the client consumes the stored message again; its answer comes back
            before = seen.count(b"hello")
            r = await call(RC.CONSUME_MESSAGE_DIRECTLY, ConsumeMessageDirectlyResultRequestHeader(
                "CG_REL", c.client_id, sent.offset_msg_id, None))
            assert r.code == ResponseCode.SUCCESS, r.remark
            res = ConsumeMessageDirectlyResult.from_json(r.body)
            assert res.consume_result == "CR_SUCCESS" and res.order is False
            assert seen.count(b"hello") == before + 1
            r = await call(RC.CONSUME_MESSAGE_DIRECTLY, ConsumeMessageDirectlyResultRequestHeader(
                "CG_REL", c.client_id, boom.offset_msg_id, None))
            res = ConsumeMessageDirectlyResult.from_json(r.body)
            assert res.consume_result == "CR_THROW_EXCEPTION"
            assert "listener refused it" in (res.remark or "")
            # refusals: a client not online, a message that does not exist
            r = await call(RC.CONSUME_MESSAGE_DIRECTLY, ConsumeMessageDirectlyResultRequestHeader(
                "CG_REL", "nobody@1", sent.offset_msg_id, None))
            assert r.code == ResponseCode.SYSTEM_ERROR and "not online" in r.remark
            r = await call(RC.CONSUME_MESSAGE_DIRECTLY, ConsumeMessageDirectlyResultRequestHeader(
                "CG_REL", c.client_id, "zz", None))
            assert r.code == ResponseCode.SYSTEM_ERROR and "can not find" in r.remark

            # 317: the group's consume stats, keyed by MessageQueue objects
            r = await call(RC.GET_BROKER_CONSUME_STATS, GetConsumeStatsInBrokerHeader(False))
            assert r.code == ResponseCode.SUCCESS
            stats = ConsumeStatsList.from_json(r.body)
            assert stats.broker_addr == addr
            mine = dict(stats.groups)["CG_REL"]
            assert sum(w.consumer_offset for cs in mine for w in cs.offset_table.values()) == 2
            assert stats.total_diff == sum(cs.diff_total for _, css in stats.groups for cs in css)

            # the CLI on top of them
            status = await _cli(cluster, "consumerStatus", "-g", "CG_REL")
            assert status[0]["clientId"] == c.client_id and status[0]["queues"]
            bcs = await _cli(cluster, "brokerConsumeStats", "-b", addr)
            assert {q["group"] for q in bcs["queues"]} >= {"CG_REL"}
            by_id = await _cli(cluster, "queryMsgById", "-i", sent.offset_msg_id, "-g", "CG_REL",
                               "-d", c.client_id)
            assert {"consumerGroup": "CG_REL", "trackType": "CONSUMED"} in by_id[0]["tracks"]
            assert by_id[0]["consumeDirectly"]["consumeResult"] == "CR_SUCCESS"
        await rc.close()

    asyncio.run(asyncio.wait_for(main(), 120))


def test_runtime_info_has_every_java_key(cluster):
    java = KVTable.from_json(java_form(1)[0]).table
    r = cluster.invoke(request(RC.GET_BROKER_RUNTIME_INFO))
    assert r.code == ResponseCode.SUCCESS
    ours = KVTable.from_json(r.body).table
    for key, value in java.items():
        if key.startswith("commitLogDiskRatio_"):  # named after the store path
            key = next(k for k in ours if k.startswith("commitLogDiskRatio_"))
        assert key in ours, key
        assert value_shape(ours[key]) == value_shape(value), (key, ours[key], value)
    assert value_shape(ours["getTotalTps"].split(" ")[2]) == "float"  # always three numbers
    assert "put_count" in ours and "commitlog_segments" in ours  # pyrmq's store counters too
