"""Prometheus metrics for the broker and the NameServer.

Each process component owns a :class:`prometheus_client.CollectorRegistry` (embedded brokers in
one process never collide); collectors read live counters at scrape time, so the hot path pays
nothing beyond the counters it already keeps. :class:`MetricsEndpoint` serves the registry's
text format from the asyncio loop.
"""

from pyrmq.metrics.http import MetricsEndpoint
from pyrmq.metrics.requests import RequestMetrics

__all__ = ["MetricsEndpoint", "RequestMetrics"]
