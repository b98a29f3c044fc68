"""Pieces of the send path made cheaper for issue 9 keep their results: UNIQ_KEY text, the
request metrics (children cached per code pair, the cache bounded), the born host cache."""

from __future__ import annotations

import struct

from prometheus_client import CollectorRegistry

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
    assert len(m._children) <= 4096
    assert _samples(reg, "rocketmq_requests_total")[(("code", "other"), ("response", "0"))] \
        == 5002


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
