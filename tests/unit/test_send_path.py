"""Pieces of the send path made cheaper for issue 9 keep their results: UNIQ_KEY text, the
request metrics (plain counts turned into the families at scrape time, what prometheus-client
would expose, the key cache bounded), the born host cache."""

from __future__ import annotations

import random
import struct

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram

from pyrmq.broker.send import born_host_of
from pyrmq.client import message as client_message
from pyrmq.metrics.requests import RequestMetrics


def test_uniq_key_is_the_java_layout_in_upper_hex(monkeypatch):
    keys = client_message._UniqKeys()
    for millis in (0, 1, 0x7FFFFFFF, 0x80000005):  # past 31 bits it wraps as Java's does
        now = keys.month_start + millis / 1000 + 0.0004
        monkeypatch.setattr(client_message.time, "time", lambda now=now: now)
        n = next(keys.counter)  # what the next key will carry, +1
        key = keys.next()
        diff = int((now - keys.month_start) * 1000) & 0x7FFFFFFF
        want = keys.prefix + struct.pack(">iH", diff, (n + 1) & 0xFFFF).hex().upper()
        assert key == want and len(key) == 32


def _samples(reg: CollectorRegistry, name: str) -> dict[tuple, float]:
    return {tuple(sorted(s.labels.items())): s.value
            for m in reg.collect() for s in m.samples if s.name == name}


def test_request_metrics_count_through_cached_children():
    reg = CollectorRegistry()
    m = RequestMetrics(reg)
    for _ in range(3):
        m.observe(310, 0, 0.0002)
    m.observe(310, 14, 0.001)
    m.observe(12345, 0, 0.0)   # an unknown code: the shared "other" label
    m.observe(54321, 0, 0.0)
    m.observe(11, -1, 0.5)
    got = _samples(reg, "rocketmq_requests_total")
    assert got[(("code", "310"), ("response", "0"))] == 3
    assert got[(("code", "310"), ("response", "14"))] == 1
    assert got[(("code", "other"), ("response", "0"))] == 2
    assert got[(("code", "11"), ("response", "-1"))] == 1
    counts = _samples(reg, "rocketmq_request_latency_seconds_count")
    assert counts[(("code", "310"),)] == 4
    for code in range(100_000, 105_000):  # a peer inventing codes cannot grow the cache
        m.observe(code, 0, 0.0)
    assert len(m._keys) <= 4096
    assert _samples(reg, "rocketmq_requests_total")[(("code", "other"), ("response", "0"))] \
        == 5002


def test_request_metrics_expose_what_prometheus_client_metrics_would():
    from pyrmq.metrics import requests as mod

    reg, ref_reg = CollectorRegistry(), CollectorRegistry()
    m = RequestMetrics(reg)
    ref_c = Counter("rocketmq_requests", "d", ["code", "response"], registry=ref_reg)
    ref_h = Histogram("rocketmq_request_latency_seconds", "d", ["code"], registry=ref_reg,
                      buckets=mod._BUCKETS)
    rng = random.Random(7)
    edges = [*mod._BUCKETS, 0.0, 100.0]
    for _ in range(2000):
        code, resp = rng.choice([10, 11, 310, 99999]), rng.choice([0, 1, 2, -1, 777])
        secs = rng.choice(edges) if rng.random() < 0.3 else rng.expovariate(50)
        m.observe(code, resp, secs)
        ref_c.labels(mod._label(code, mod._REQUEST_CODES),
                     "-1" if resp == -1 else mod._label(resp, mod._RESPONSE_CODES)).inc()
        ref_h.labels(mod._label(code, mod._REQUEST_CODES)).observe(secs)
    for name in ("rocketmq_requests_total", "rocketmq_request_latency_seconds_bucket",
                 "rocketmq_request_latency_seconds_count"):
        assert _samples(reg, name) == _samples(ref_reg, name), name
    got, want = (_samples(r, "rocketmq_request_latency_seconds_sum") for r in (reg, ref_reg))
    assert got.keys() == want.keys()
    assert all(abs(got[k] - want[k]) < 1e-6 for k in got)


class _Conn:
    def __init__(self, addr: str) -> None:
        self.remote_addr = addr
        self.attrs: dict = {}


def test_born_host_is_parsed_once_and_follows_the_address():
    c = _Conn("10.0.0.7:4242")
    assert born_host_of(c) == ("10.0.0.7", 4242)
    assert born_host_of(c) == ("10.0.0.7", 4242)
    c.remote_addr = "[::1]:99"  # a changed address is parsed again
    assert born_host_of(c) == ("[::1]", 99)
    assert born_host_of(_Conn("garbage")) == ("127.0.0.1", 0)


@pytest.mark.parametrize("batch", [False, True])
def test_producer_send_header_is_the_typed_headers_v2_fields(monkeypatch, batch):
    from pyrmq.client import Message, MessageQueue, Producer
    from pyrmq.client import producer as producer_mod
    from pyrmq.protocol.headers import SendMessageRequestHeader

    monkeypatch.setattr(producer_mod.time, "time", lambda: 1_700_000_000.1234)
    p = Producer("PG_H", "127.0.0.1:1")
    msg = Message("TopicH", b"x", tags="T", flag=7)
    props = msg.wire_properties_raw("UNIQ")
    want = SendMessageRequestHeader("PG_H", "TopicH", "TBW102", 4, 3, 12, 1_700_000_000_123,
                                    7, props.decode(), 0, False, batch).to_ext_v2()
    got = p._header(msg, MessageQueue("TopicH", "b", 3), props, 12, batch)
    assert list(got.items()) == list(want.items())
