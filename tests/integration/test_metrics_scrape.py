"""Prometheus /metrics of a real NameServer + Broker during a produce/consume run, checked
against brokerStatus (GET_BROKER_RUNTIME_INFO) and consumerProgress (GET_CONSUME_STATS)."""

from __future__ import annotations

import asyncio
import json
import socket

from rmqtest.cluster import FAST_DELAYS, wait_registered
from rmqtest.metrics import get_text, scrape, value
from rmqtest.procs import SMALL_STORE, free_port, start_namesrv, start_pyrmq

from pyrmq.client import ConsumeFrom, ConsumeStatus, Message, Producer, PushConsumer
from pyrmq.protocol.codes import RequestCode as RC
from pyrmq.protocol.command import request
from pyrmq.protocol.headers import GetConsumeStatsRequestHeader
from pyrmq.protocol.stats import ConsumeStats
from pyrmq.remoting import RemotingClient

N = 40
TOPIC, GROUP = "MetricsTopic", "MetricsGroup"


async def _produce_consume(ns: str) -> None:
    async with Producer("MetricsPG", ns) as p:
        for i in range(N):
            await p.send(Message(TOPIC, f"m-{i}".encode()))
    got: set[bytes] = set()
    done = asyncio.Event()

    async def on(msg):
        got.add(msg.body)
        if len(got) >= N // 2:
            done.set()
        return ConsumeStatus.CONSUME_SUCCESS

    c = PushConsumer(GROUP, ns, consume_from=ConsumeFrom.FIRST_OFFSET, rebalance_interval=1.0)
    c.subscribe(TOPIC, "*")
    c.listener = on
    async with c:
        await asyncio.wait_for(done.wait(), 30)
        await asyncio.sleep(0.5)


async def _admin(addr: str, metrics_port: int) -> tuple[dict, dict, dict]:
    """brokerStatus, consumerProgress, and a scrape taken while this client is connected."""
    c = RemotingClient()
    try:
        r = await c.invoke(addr, request(RC.GET_BROKER_RUNTIME_INFO), 5)
        status = json.loads(r.body)["table"]
        r = await c.invoke(addr, request(RC.GET_CONSUME_STATS,
                                         GetConsumeStatsRequestHeader(GROUP, TOPIC)), 5)
        m = await asyncio.get_running_loop().run_in_executor(None, scrape, metrics_port)
        return status, ConsumeStats.from_json(r.body), m
    finally:
        await c.close()


def test_metrics_agree_with_broker_status_and_consumer_progress(tmp_path):
    ns_metrics, broker_metrics, port = free_port(), free_port(), free_port()
    ns = start_namesrv(tmp_path, metrics_port=ns_metrics)
    broker = None
    try:
        broker = start_pyrmq(
            ["broker", "-n", f"127.0.0.1:{ns.port}", "--listen-port", str(port),
             "--listen-host", "127.0.0.1", "--store", str(tmp_path / "store"),
             "--metrics-port", str(broker_metrics), "--set", f"messageDelayLevel={FAST_DELAYS}",
             "--set", f"haListenPort={free_port()}", *SMALL_STORE],
            tmp_path / "broker.log", port)
        addr = f"127.0.0.1:{port}"
        wait_registered(f"127.0.0.1:{ns.port}", addr)
        before = scrape(broker_metrics)
        assert value(before, "rocketmq_broker_put_messages_total") == 0

        asyncio.run(_produce_consume(f"127.0.0.1:{ns.port}"))
        status, progress, m = asyncio.run(_admin(addr, broker_metrics))

        # exact put counts, total and per topic, equal to brokerStatus
        assert value(m, "rocketmq_broker_put_messages_total") == N
        assert int(status["msgPutTotalTodayNow"]) == N
        assert value(m, "rocketmq_topic_put_messages_total", topic=TOPIC) == N
        assert value(m, "rocketmq_broker_get_messages_total") == int(status["msgGetTotalTodayNow"])
        assert value(m, "rocketmq_brokeruntime_commitlog_maxoffset") == int(
            status["max_phys_offset"])
        # lag per queue equals consumerProgress once the consumer stopped
        for mq, w in progress.offset_table.items():
            assert value(m, "rocketmq_group_diff", group=GROUP, topic=TOPIC,
                         queueid=str(mq.queue_id)) == w.broker_offset - w.consumer_offset
        assert value(m, "rocketmq_group_diff", group=GROUP) == progress.diff_total
        # request counts by code moved; SEND_MESSAGE(_V2) answered SUCCESS N times
        sends = sum(v for lab, v in m["rocketmq_requests_total"]
                    if lab["code"] in (str(int(RC.SEND_MESSAGE)), str(int(RC.SEND_MESSAGE_V2)))
                    and lab["response"] == "0")
        assert sends == N
        assert value(m, "rocketmq_request_latency_seconds_count",
                     code=str(int(RC.GET_BROKER_RUNTIME_INFO))) >= 1
        assert value(m, "rocketmq_broker_connections") >= 1
        # the 10 s TPS window holds the produce run (sampled every second since boot)
        assert value(m, "rocketmq_broker_tps") > 0
        assert value(m, "rocketmq_producer_tps", topic=TOPIC) > 0
        assert value(m, "rocketmq_consumer_tps", group=GROUP, topic=TOPIC) > 0
        assert 0 <= value(m, "rocketmq_brokeruntime_commitlog_disk_ratio") <= 1
        assert value(m, "rocketmq_store_recovery_clean_shutdown") == 1

        n = scrape(ns_metrics)
        assert value(n, "rocketmq_namesrv_brokers") == 1
        assert value(n, "rocketmq_namesrv_route_lookups_total", result="found") >= 1
        assert value(n, "rocketmq_requests_total", code=str(int(RC.REGISTER_BROKER))) >= 1
    finally:
        if broker is not None:
            broker.stop()
        ns.stop()


def _broker(tmp_path, metrics_port: int):
    from pyrmq.broker import Broker
    from pyrmq.broker.config import BrokerConfig
    from pyrmq.store import StoreConfig

    cfg = BrokerConfig(listenPort=free_port(), haListenPort=free_port(),
                       storePathRootDir=str(tmp_path), metricsPort=metrics_port)
    store_cfg = StoreConfig(storePathRootDir=str(tmp_path), mappedFileSizeCommitLog=8 << 20,
                            maxHashSlotNum=50_000, maxIndexNum=200_000)
    return Broker(cfg, store_cfg, listen_host="127.0.0.1")


def test_metrics_port_zero_means_no_listener(tmp_path):
    async def go() -> None:
        async with _broker(tmp_path / "off", 0) as b:
            assert b.metrics is None
        port = free_port()
        async with _broker(tmp_path / "on", port) as b:
            assert b.metrics is not None and b.metrics.port == port
            text = await asyncio.get_running_loop().run_in_executor(None, get_text, port)
            assert "rocketmq_broker_put_messages_total" in text
        with socket.socket() as s:  # closed with the broker
            assert s.connect_ex(("127.0.0.1", port)) != 0

    asyncio.run(go())


def test_metrics_port_in_use_is_one_error_line(tmp_path):
    import subprocess
    import sys

    from rmqtest.procs import REPO

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        for args in (["namesrv", "--listen", f"127.0.0.1:{free_port()}"],
                     ["broker", "--listen-host", "127.0.0.1", "--listen-port", str(free_port()),
                      "--store", str(tmp_path / "store"), *SMALL_STORE]):
            p = subprocess.run([sys.executable, "-m", "pyrmq", *args, "--metrics-port",
                                str(taken)], capture_output=True, text=True, timeout=60,
                               cwd=REPO, stdin=subprocess.DEVNULL)
            assert p.returncode == 1, p.stderr
            assert "error: cannot start:" in p.stderr and "address already in use" in p.stderr
            assert "Traceback" not in p.stderr
