"""Metrics collectors against a BrokerContext over a real store (no sockets), the rate window,
the request observer's label caps, the HTTP endpoint's answers, and the remoting hook."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from types import SimpleNamespace

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from rmqtest.store import small_config

from pyrmq.broker.config import BrokerConfig
from pyrmq.broker.context import BrokerContext
from pyrmq.broker.stats import CounterRing
from pyrmq.metrics import broker as mb
from pyrmq.metrics.http import MetricsEndpoint
from pyrmq.metrics.namesrv import NamesrvMetrics
from pyrmq.metrics.requests import RequestMetrics
from pyrmq.namesrv.routes import RouteTable
from pyrmq.protocol.codes import RequestCode, ResponseCode
from pyrmq.protocol.command import request
from pyrmq.remoting import RemotingClient, RemotingServer
from pyrmq.store import MessageStore


@pytest.fixture
def ctx(tmp_path):
    root = str(tmp_path / "store")
    store_cfg = small_config(storePathRootDir=root)
    store = MessageStore(root, store_cfg, store_host=("127.0.0.1", 10911))
    c = BrokerContext.create(BrokerConfig(storePathRootDir=root, brokerName="b1"), store_cfg,
                             store)
    yield c
    c.executor.shutdown(wait=True)
    store.close()


def samples(registry: CollectorRegistry) -> dict[str, list[tuple[dict, float]]]:
    out: dict[str, list[tuple[dict, float]]] = {}
    text = generate_latest(registry).decode()
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((s.labels, s.value))
    return out


def one(m: dict, name: str, **labels: str) -> float:
    rows = [v for lab, v in m[name] if all(lab.get(k) == x for k, x in labels.items())]
    assert len(rows) == 1, (name, labels, m.get(name))
    return rows[0]


def _put(ctx: BrokerContext, topic: str, q: int, n: int) -> None:
    for i in range(n):
        body = f"{topic}-{i}".encode()
        ctx.store.put(topic, q, body)
        ctx.stats.put(topic, 1, len(body))


def test_broker_collector_reads_live_counters(ctx):
    _put(ctx, "TA", 0, 5)
    _put(ctx, "TA", 1, 2)
    _put(ctx, "TB", 0, 3)
    ctx.stats.get("TA", 4)
    ctx.offsets.table["TA@G1"] = {0: 4, 1: 0}
    ctx.store.flush()
    reg = CollectorRegistry()
    reg.register(mb.BrokerCollector(ctx, connections=lambda: 7))
    m = samples(reg)
    base = {"cluster": "DefaultCluster", "broker": "b1"}
    assert one(m, "rocketmq_broker_put_messages_total", **base) == 10
    assert one(m, "rocketmq_broker_get_messages_total") == 4
    assert one(m, "rocketmq_topic_put_messages_total", topic="TA") == 7
    assert one(m, "rocketmq_topic_put_messages_total", topic="TB") == 3
    assert one(m, "rocketmq_topic_put_bytes_total", topic="TB") == sum(
        len(f"TB-{i}") for i in range(3))
    assert one(m, "rocketmq_group_diff", group="G1", topic="TA", queueid="0") == 1
    assert one(m, "rocketmq_group_diff", group="G1", topic="TA", queueid="1") == 2
    assert one(m, "rocketmq_producer_offset", topic="TA") == 7
    assert one(m, "rocketmq_consumer_offset", group="G1", topic="TA") == 4
    assert one(m, "rocketmq_message_accumulation", group="G1", topic="TA") == 3
    assert one(m, "rocketmq_broker_connections") == 7
    assert one(m, "rocketmq_brokeruntime_commitlog_maxoffset") == ctx.store.max_phys_offset()
    assert one(m, "rocketmq_store_flush_behind_bytes") == 0
    assert one(m, "rocketmq_store_flushes_total") >= 1       # the flush() above, timed in C
    assert 0 < one(m, "rocketmq_store_flush_max_seconds") <= one(
        m, "rocketmq_store_flush_seconds_total")
    assert 0 <= one(m, "rocketmq_brokeruntime_commitlog_disk_ratio") <= 1
    assert one(m, "rocketmq_store_recovery_clean_shutdown") == 1
    assert one(m, "rocketmq_store_retention_forced_deletions_total") == 0
    assert "rocketmq_ha_replication_lag_bytes" not in m  # no HA master
    assert "rocketmq_broker_tps" not in m                # no rate window given


def test_replication_lag_when_a_slave_acked(ctx):
    _put(ctx, "TA", 0, 3)
    ctx.ha_master = SimpleNamespace(acked={1: 10})  # type: ignore[assignment]
    reg = CollectorRegistry()
    reg.register(mb.BrokerCollector(ctx))
    m = samples(reg)
    assert one(m, "rocketmq_ha_slaves") == 1
    assert one(m, "rocketmq_ha_replication_lag_bytes") == ctx.store.max_phys_offset() - 10


def test_tps_gauges_from_the_rate_window(ctx):
    rates = CounterRing(12)
    start = time.monotonic() - 2.0  # a sample "2 s ago", then the work, then the scrape
    rates.sample(start, mb._counters(ctx))
    _put(ctx, "TA", 0, 20)
    ctx.offsets.table["TA@G1"] = {0: 10}
    r = rates.since(10.0, start + 2.0, mb._counters(ctx))
    assert (r["put"], r["p:TA"], r["c:TA@G1"]) == (10.0, 10.0, 5.0)
    reg = CollectorRegistry()
    reg.register(mb.BrokerCollector(ctx, rates=rates))
    m = samples(reg)  # scraped a moment later: a little under 10/s
    assert 8.0 < one(m, "rocketmq_broker_tps") <= 10.0
    assert 8.0 < one(m, "rocketmq_producer_tps", topic="TA") <= 10.0
    assert 4.0 < one(m, "rocketmq_consumer_tps", group="G1", topic="TA") <= 5.0


def test_rate_window_slides_and_never_goes_negative():
    w = CounterRing(12)
    assert w.since(10.0, 0.0, {"x": 0}) == {}
    for t in range(30):
        w.sample(float(t), {"x": t * 3})
    assert w.since(10.0, 29.0, {"x": 87})["x"] == pytest.approx(3.0)
    assert w.since(10.0, 29.5, {"x": 90})["x"] == pytest.approx((90 - 57) / 10.5)  # from t=19
    w.sample(30.0, {"x": 0})  # a reset
    assert w.since(10.0, 30.0, {"x": 0})["x"] == 0


def test_label_cardinality_is_capped(ctx, monkeypatch):
    monkeypatch.setattr(mb, "MAX_SERIES", 3)
    for i in range(5):
        ctx.stats.put(f"T{i}", 1, 1)
    reg = CollectorRegistry()
    reg.register(mb.BrokerCollector(ctx))
    m = samples(reg)
    assert len(m["rocketmq_topic_put_messages_total"]) == 3
    assert one(m, "rocketmq_metrics_series_dropped") == 2 * 2  # puts, bytes; gets are empty


def test_request_metrics_bound_peer_chosen_codes():
    reg = CollectorRegistry()
    r = RequestMetrics(reg)
    r.observe(int(RequestCode.SEND_MESSAGE), 0, 0.002)
    r.observe(12345, int(ResponseCode.REQUEST_CODE_NOT_SUPPORTED), 0.0)
    r.observe(54321, 999, 0.0)
    r.observe(int(RequestCode.SEND_MESSAGE), int(ResponseCode.SYSTEM_BUSY), 0.0)
    m = samples(reg)
    assert one(m, "rocketmq_requests_total", code="10", response="0") == 1
    assert one(m, "rocketmq_requests_total", code="10", response="2") == 1
    assert one(m, "rocketmq_requests_total", code="other", response="other") == 1
    assert one(m, "rocketmq_request_latency_seconds_count", code="other") == 2


def test_namesrv_collector():
    lookups: Counter[str] = Counter(found=3, not_found=1)
    m = samples(NamesrvMetrics(RouteTable(), lookups).registry)
    assert one(m, "rocketmq_namesrv_brokers") == 0
    assert one(m, "rocketmq_namesrv_route_lookups_total", result="found") == 3
    assert one(m, "rocketmq_namesrv_route_lookups_total", result="not_found") == 1


@pytest.mark.parametrize("head, status", [
    (b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", b"200 OK"),
    (b"HEAD /metrics?x=1 HTTP/1.0\r\n\r\n", b"200 OK"),
    (b"GET /nope HTTP/1.1\r\n\r\n", b"404 Not Found"),
    (b"POST /metrics HTTP/1.1\r\n\r\n", b"405 Method Not Allowed"),
    (b"\x00\xff garbage\r\n\r\n", b"400 Bad Request"),
])
def test_endpoint_answers(head, status):
    ep = MetricsEndpoint(CollectorRegistry(), "127.0.0.1", 0)
    got, _ctype, body = ep.answer(head)
    assert got == status
    if head.startswith(b"HEAD"):
        assert body == b""


def test_endpoint_survives_a_broken_collector_and_bad_clients():
    class Broken:
        def collect(self):
            raise RuntimeError("bug")

    async def go() -> None:
        reg = CollectorRegistry()
        reg.register(Broken())
        ep = MetricsEndpoint(reg, "127.0.0.1", 0)
        await ep.start()
        try:
            r, w = await asyncio.open_connection("127.0.0.1", ep.port)
            w.write(b"x" * 10_000)  # no head end within the limit: dropped
            await w.drain()
            assert await asyncio.wait_for(r.read(), 5) == b""
            w.close()
            r, w = await asyncio.open_connection("127.0.0.1", ep.port)
            w.write(b"GET /metrics HTTP/1.0\r\n\r\n")
            data = await asyncio.wait_for(r.read(), 5)
            assert data.startswith(b"HTTP/1.0 500")
            w.close()
        finally:
            await ep.close()

    asyncio.run(asyncio.wait_for(go(), 20))


def test_endpoint_caps_concurrent_connections(monkeypatch):
    from pyrmq.metrics import http

    monkeypatch.setattr(http, "MAX_CONNECTIONS", 2)

    async def go() -> None:
        ep = MetricsEndpoint(CollectorRegistry(), "127.0.0.1", 0)
        await ep.start()
        held = []
        try:
            for _ in range(2):  # two silent clients hold both slots
                held.append(await asyncio.open_connection("127.0.0.1", ep.port))
            await asyncio.sleep(0.1)
            r, w = await asyncio.open_connection("127.0.0.1", ep.port)
            w.write(b"GET /metrics HTTP/1.0\r\n\r\n")
            try:  # closed unanswered (a reset when our request was still unread)
                assert await asyncio.wait_for(r.read(), 5) == b""
            except ConnectionResetError:
                pass
            w.close()
            for _, hw in held:
                hw.close()
            await asyncio.sleep(0.1)
            r, w = await asyncio.open_connection("127.0.0.1", ep.port)
            w.write(b"GET /metrics HTTP/1.0\r\n\r\n")
            assert (await asyncio.wait_for(r.read(), 5)).startswith(b"HTTP/1.0 200")
            w.close()
        finally:
            await ep.close()

    asyncio.run(asyncio.wait_for(go(), 20))


def test_remoting_server_tells_the_observer():
    seen: list[tuple[int, int, float]] = []

    async def ok(conn, cmd):
        return cmd.response(ResponseCode.SUCCESS)

    async def go() -> None:
        server = RemotingServer({1: ok}, on_response=lambda *a: seen.append(a))
        await server.start()
        client = RemotingClient()
        try:
            await client.invoke(f"127.0.0.1:{server.port}", request(1), 5)
            await client.invoke(f"127.0.0.1:{server.port}", request(77), 5)
        finally:
            await client.close()
            await server.close()

    asyncio.run(asyncio.wait_for(go(), 20))
    assert [(c, r) for c, r, _ in seen] == [
        (1, 0), (77, int(ResponseCode.REQUEST_CODE_NOT_SUPPORTED))]
    assert all(s >= 0 for _, _, s in seen)
