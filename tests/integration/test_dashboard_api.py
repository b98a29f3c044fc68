"""The dashboard's JSON API against real NameServer + Broker + dashboard processes: what it
answers agrees with the admin API (the CLI's), writes are refused unless --allow-write, bad
input answers 400 and the process keeps serving."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import urllib.request

import pytest

pytest.importorskip("aiohttp", reason="the dashboard needs aiohttp")

from rmqtest.cluster import running_cluster  # noqa: E402
from rmqtest.dashboard import admin_call, http, seed, start_dashboard  # noqa: E402
from rmqtest.procs import (
    REPO,  # noqa: E402
    until,  # noqa: E402
)

from pyrmq.client import ConsumeStatus, PushConsumer  # noqa: E402


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dash-api")
    with running_cluster(tmp) as cluster:
        rw = start_dashboard(tmp, cluster.ns_addr, allow_write=True)
        ro = start_dashboard(tmp, cluster.ns_addr, allow_write=False)
        try:
            yield cluster, rw, ro
        finally:
            rw.stop()
            ro.stop()


def test_topic_created_through_the_dashboard(env):
    cluster, rw, ro = env
    status, rows = http(rw, "/api/topics", {"topic": "DashT", "readQueues": 3,
                                            "writeQueues": 3})
    assert status == 200 and rows[0]["topic"] == "DashT" and rows[0]["writeQueueNums"] == 3

    def listed():
        status, topics = http(ro, "/api/topics")
        assert status == 200
        row = next((t for t in topics if t["topic"] == "DashT"), None)
        assert row is not None and row["readQueueNums"] == 3, topics
        return row
    assert until(listed)["writeQueueNums"] == 3
    status, detail = http(ro, "/api/topics/DashT")
    assert status == 200
    assert detail["queues"] == admin_call(cluster.ns_addr, "topic_status", "DashT")
    assert [q["queueId"] for q in detail["queues"]] == [0, 1, 2]


def test_read_only_refuses_writes(env):
    cluster, rw, ro = env
    assert http(ro, "/api/config") == (200, {"allowWrite": False})
    status, body = http(ro, "/api/topics", {"topic": "Nope", "readQueues": 1,
                                            "writeQueues": 1})
    assert status == 403 and "read-only" in body["error"]
    assert "Nope" not in admin_call(cluster.ns_addr, "topic_list")
    status, body = http(ro, "/api/groups/G/reset", {"topic": "DashT", "timestamp": 0,
                                                    "dryRun": False})
    assert status == 403


def test_group_lag_messages_and_reset(env):
    cluster, rw, ro = env
    admin_call(cluster.ns_addr, "update_topic", "DashG", None, None, 2, 2)
    admin_call(cluster.ns_addr, "update_group", "CG_DASH")
    sent = seed(cluster.ns_addr, "DashG", "CG_DASH", 10, "dk")
    want = admin_call(cluster.ns_addr, "consumer_progress", "CG_DASH", "DashG")
    assert sum(q["lag"] for q in want) > 0
    status, g = http(ro, "/api/groups/CG_DASH?topic=DashG")
    assert status == 200 and g["queues"] == want
    assert g["totalLag"] == sum(q["lag"] for q in want)
    assert "CG_DASH" in http(ro, "/api/groups")[1]

    # dry run on the read-only dashboard: the offsets 0 maps to, nothing changed
    status, dry = http(ro, "/api/groups/CG_DASH/reset", {"topic": "DashG", "timestamp": 0})
    assert status == 200 and dry["dryRun"] is True
    by_q = {q["queueId"]: q for q in want}
    assert {r["queueId"]: (r["oldOffset"], r["newOffset"]) for r in dry["queues"]} == {
        q: (by_q[q]["consumerOffset"], 0) for q in by_q}
    assert admin_call(cluster.ns_addr, "consumer_progress", "CG_DASH", "DashG") == want
    status, done = http(rw, "/api/groups/CG_DASH/reset", {"topic": "DashG", "timestamp": 0,
                                                          "dryRun": False})
    assert status == 200 and done["dryRun"] is False
    after = admin_call(cluster.ns_addr, "consumer_progress", "CG_DASH", "DashG")
    assert all(q["consumerOffset"] == 0 for q in after)

    m = sent[3]
    status, found = until(lambda: (lambda r: r if r[0] == 200 else (_ for _ in ()).throw(
        AssertionError(r)))(http(ro, f"/api/messages?topic=DashG&key={m['key']}")))
    assert [f["body"] for f in found] == [m["body"]] and found[0]["bodyIsText"]
    assert found[0]["properties"]["color"] == "blue" and found[0]["tags"] == "TagD"
    status, by_id = http(ro, f"/api/messages?id={m['offsetMsgId']}")
    assert status == 200 and by_id[0]["body"] == m["body"]
    status, by_off = http(ro, f"/api/messages?topic=DashG&broker={m['brokerName']}"
                              f"&queue={m['queueId']}&offset={m['queueOffset']}")
    assert status == 200 and by_off[0]["keys"] == m["key"]


def test_cluster_and_tps_agree_with_broker_status(env):
    cluster, rw, ro = env
    status, rows = http(ro, "/api/cluster")
    assert status == 200 and [(r["brokerName"], r["addr"], r["role"]) for r in rows] == [
        ("broker-a", cluster.broker_addr, "MASTER")]
    assert rows[0]["version"].startswith("V4_9_8")
    st = admin_call(cluster.ns_addr, "broker_status", cluster.broker_addr)
    status, tps = http(ro, "/api/tps")
    assert status == 200 and tps[0]["brokerName"] == "broker-a"
    assert tps[0]["putTotal"] >= int(st["msgPutTotalTodayNow"])


def test_bad_input_is_a_clear_error(env):
    cluster, rw, ro = env
    assert http(rw, "/api/topics", raw=b"{not json")[0] == 400
    status, body = http(rw, "/api/topics", {"topic": "X", "readQueues": 99999})
    assert status == 400 and "readQueues" in body["error"]
    assert http(rw, "/api/topics", {"readQueues": 1})[0] == 400
    assert http(ro, "/api/messages")[0] == 400
    assert http(ro, "/api/messages?topic=T&broker=b&queue=x&offset=1")[0] == 400
    status, body = http(ro, "/api/messages?id=zz")
    assert status == 502 and body["error"]
    status, body = http(ro, "/api/topics/NoSuchTopicHere")
    assert status == 502 and "NoSuchTopicHere" in body["error"]
    assert http(ro, "/api/config")[0] == 200  # still serving
    assert ro.popen.poll() is None and "Traceback" not in ro.log()


def test_pages_are_served(env):
    _, _, ro = env
    with urllib.request.urlopen(f"http://127.0.0.1:{ro.port}/", timeout=10) as r:
        assert b"pyrmq dashboard" in r.read()
    for name in ("app.js", "chart.js", "style.css"):
        with urllib.request.urlopen(f"http://127.0.0.1:{ro.port}/static/{name}",
                                    timeout=10) as r:
            assert r.status == 200 and len(r.read()) > 100


def test_group_members_are_the_online_consumers(env):
    cluster, rw, ro = env
    admin_call(cluster.ns_addr, "update_topic", "DashM", None, None, 1, 1)

    async def main():
        c = PushConsumer("CG_LIVE", cluster.ns_addr, rebalance_interval=1.0)
        c.subscribe("DashM")
        c.listener = lambda m: ConsumeStatus.CONSUME_SUCCESS
        async with c:
            for _ in range(50):
                status, g = await asyncio.to_thread(http, ro, "/api/groups/CG_LIVE")
                if status == 200 and g["members"]:
                    break
                await asyncio.sleep(0.2)
            return c.client_id, g
    client_id, g = asyncio.run(asyncio.wait_for(main(), 60))
    assert [m["clientId"] for m in g["members"]] == [client_id]
    assert g["members"][0]["messageModel"] == "CLUSTERING"


def test_cli_refuses_a_bad_listen_address(tmp_path):
    p = subprocess.run([sys.executable, "-m", "pyrmq", "dashboard", "--listen", "nope"],
                       capture_output=True, text=True, timeout=60, cwd=REPO)
    assert p.returncode == 2 and p.stderr.strip() == (
        "error: --listen wants HOST:PORT, not 'nope'")
