"""mqadmin-style commands against a running NameServer + Broker (processes), checking --json."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading

import pytest
from rmqtest.cluster import driver_start, driver_wait, msgs, running_cluster
from rmqtest.procs import REPO, until

from pyrmq.client import Message, Producer


@pytest.fixture
def cluster(tmp_path):
    with running_cluster(tmp_path) as c:
        yield c


def admin(cluster, *args: str, ok: bool = True):
    p = subprocess.run([sys.executable, "-m", "pyrmq", *args, "-n", cluster.ns_addr, "--json"],
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    if not ok:
        assert p.returncode != 0 and p.stderr.startswith("error: "), p.stdout + p.stderr
        assert len(p.stderr.strip().splitlines()) == 1
        return p.stderr
    assert p.returncode == 0, p.stdout + p.stderr
    return json.loads(p.stdout)




class LiveProducer:
    """A pyrmq Producer kept alive in a thread (so producerConnection has a client)."""

    def __init__(self, ns: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.producer = Producer("PG_LIVE", ns)

        async def go():
            await self.producer.start()
            await self.producer.send(Message("Adm", b"from-live"))
            await self.producer.heartbeat()
        asyncio.run_coroutine_threadsafe(go(), self.loop).result(30)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.producer.shutdown(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


def test_admin_commands(cluster):
    rows = admin(cluster, "updateTopic", "-t", "Adm", "-r", "4", "-w", "4")
    assert rows[0]["topic"] == "Adm" and rows[0]["writeQueueNums"] == 4
    until(lambda: (lambda r: [q["writeQueueNums"] for q in r["queueDatas"]] == [4] or
                    (_ for _ in ()).throw(AssertionError(r)))(
        admin(cluster, "topicRoute", "-t", "Adm")), 10.0)
    assert "Adm" in admin(cluster, "topicList")
    clusters = admin(cluster, "clusterList")
    assert clusters == [{"cluster": "DefaultCluster", "brokerName": "broker-a", "brokerId": 0,
                         "addr": cluster.broker_addr}]
    sent = admin(cluster, "sendMessage", "-t", "Adm", "-p", "hello", "--tags", "TagA",
                 "-k", "k1 k2")
    assert sent["status"] == "SEND_OK"
    by_id = admin(cluster, "queryMsgById", "-i", sent["offsetMsgId"])
    assert by_id[0]["body"] == "hello" and by_id[0]["tags"] == "TagA"
    by_key = admin(cluster, "queryMsgByKey", "-t", "Adm", "-k", "k2")
    assert [r["body"] for r in by_key] == ["hello"]
    by_off = admin(cluster, "queryMsgByOffset", "-t", "Adm", "-b", "broker-a", "-i",
                   str(sent["queueId"]), "-o", str(sent["queueOffset"]))
    assert by_off[0]["body"] == "hello"
    assert "hello" in [r["body"] for r in admin(cluster, "consumeMessage", "-t", "Adm")]
    status = admin(cluster, "topicStatus", "-t", "Adm")
    assert sum(r["maxOffset"] for r in status) == 1 and len(status) == 4
    status = admin(cluster, "brokerStatus", "-b", cluster.broker_addr)
    assert int(status["msgPutTotalTodayNow"]) >= 1 and len(status["putTps"].split(" ")) == 3
    assert admin(cluster, "getBrokerConfig", "-b", cluster.broker_addr)["brokerName"] == \
        "broker-a"
    assert admin(cluster, "updateBrokerConfig", "-b", cluster.broker_addr, "-k",
                 "defaultTopicQueueNums", "-v", "3") == {"defaultTopicQueueNums": "3"}
    admin(cluster, "updateBrokerConfig", "-b", cluster.broker_addr, "-k", "noSuchKey", "-v",
          "1", ok=False)
    assert admin(cluster, "updateSubGroup", "-g", "CG_ADM", "--retry-max-times", "5")[
        "retryMaxTimes"] == 5

    # a live consumer group: connections, progress, offset reset
    consumer = driver_start("consume", cluster.ns_addr, "Adm", "CG_ADM", "1", "--linger", "8")
    conns = until(lambda: admin(cluster, "consumerConnection", "-g", "CG_ADM"), 20)
    assert conns[0]["messageModel"] == "CLUSTERING" and conns[0]["language"] == "CPP"
    assert [m["body"] for m in msgs(driver_wait(consumer))] == ["hello"]
    prog = until(lambda: (lambda p: p if p["totalLag"] == 0 and any(
        q["consumerOffset"] == 1 for q in p["queues"]) else (_ for _ in ()).throw(
        AssertionError(p)))(admin(cluster, "consumerProgress", "-g", "CG_ADM", "-t", "Adm")),
        10.0)
    assert {q["topic"] for q in prog["queues"]} == {"Adm"}
    dry = admin(cluster, "resetOffsetByTime", "-g", "CG_ADM", "-t", "Adm", "-s", "0",
                "--dry-run")
    moved = [r for r in dry if r["oldOffset"] == 1]
    assert len(moved) == 1 and moved[0]["newOffset"] == 0
    assert admin(cluster, "consumerProgress", "-g", "CG_ADM", "-t", "Adm")["totalLag"] == 0
    admin(cluster, "resetOffsetByTime", "-g", "CG_ADM", "-t", "Adm", "-s", "0")
    assert admin(cluster, "consumerProgress", "-g", "CG_ADM", "-t", "Adm")["totalLag"] == 1

    live = LiveProducer(cluster.ns_addr)
    try:
        pc = admin(cluster, "producerConnection", "-g", "PG_LIVE")
        assert pc[0]["clientId"] == live.producer.client_id
    finally:
        live.close()

    # failures: one line on stderr, non-zero exit
    admin(cluster, "topicRoute", "-t", "NoSuchTopic", ok=False)
    admin(cluster, "consumerConnection", "-g", "NOBODY", ok=False)
    admin(cluster, "brokerStatus", "-b", "127.0.0.1:1", ok=False)

    admin(cluster, "deleteSubGroup", "-g", "CG_ADM")
    admin(cluster, "deleteTopic", "-t", "Adm")
    assert "Adm" not in admin(cluster, "topicList")
    wiped = admin(cluster, "wipeWritePerm", "-b", "broker-a")
    assert list(wiped.values())[0] >= 1
