"""Replication lag on a master's /metrics: present once a slave attached, and 0 once the slave
holds the master's whole commitlog (both brokers' scrapes agree)."""

from __future__ import annotations

import asyncio
import time

from rmqtest.cluster import wait_registered
from rmqtest.metrics import scrape, value
from rmqtest.procs import SMALL_STORE, free_port, start_namesrv, start_pyrmq

from pyrmq.client import Message, Producer


def _broker(tmp, ns_port: int, name: str, metrics: int, *extra: str):
    port = free_port()
    proc = start_pyrmq(["broker", "-n", f"127.0.0.1:{ns_port}", "--listen-port", str(port),
                        "--listen-host", "127.0.0.1", "--store", str(tmp / name),
                        "--metrics-port", str(metrics), "--set", "brokerName=broker-a",
                        "--set", f"haListenPort={free_port()}", *SMALL_STORE, *extra],
                       tmp / f"{name}.log", port)
    wait_registered(f"127.0.0.1:{ns_port}", f"127.0.0.1:{port}")
    return proc


async def _send(ns: str, n: int) -> None:
    async with Producer("HaMetricsPG", ns) as p:
        for i in range(n):
            await p.send(Message("HaMetrics", f"m-{i}".encode() * 20))


def test_replication_lag_reaches_zero(tmp_path):
    ns = start_namesrv(tmp_path)
    procs = []
    mm, sm = free_port(), free_port()
    try:
        master = _broker(tmp_path, ns.port, "master", mm, "--set", "brokerRole=ASYNC_MASTER")
        procs.append(master)
        assert "rocketmq_ha_replication_lag_bytes" not in scrape(mm)  # no slave yet
        procs.append(_broker(tmp_path, ns.port, "slave", sm, "--set", "brokerRole=SLAVE",
                             "--set", "brokerId=1"))
        asyncio.run(_send(f"127.0.0.1:{ns.port}", 30))
        deadline = time.monotonic() + 30
        while True:
            m, s = scrape(mm), scrape(sm)
            end = value(m, "rocketmq_brokeruntime_commitlog_maxoffset")
            if ("rocketmq_ha_replication_lag_bytes" in m and end > 0
                    and value(m, "rocketmq_ha_replication_lag_bytes") == 0):
                break
            assert time.monotonic() < deadline, (m.get("rocketmq_ha_replication_lag_bytes"),
                                                 master.log()[-2000:])
            time.sleep(0.2)
        assert value(m, "rocketmq_ha_slaves") == 1
        assert value(s, "rocketmq_brokeruntime_commitlog_maxoffset") == end
    finally:
        for p in reversed(procs):
            p.stop()
        ns.stop()
