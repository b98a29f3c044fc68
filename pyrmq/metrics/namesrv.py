"""The NameServer's metrics: registered brokers, topics, route lookups by result, requests."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pyrmq.metrics.requests import RequestMetrics

if TYPE_CHECKING:  # the NameServer imports this module
    from pyrmq.namesrv.routes import RouteTable


class NamesrvCollector(Collector):
    """Reads the route table at scrape time; ``lookups`` counts GET_ROUTEINFO_BY_TOPIC answers
    by result ("found" / "not_found")."""

    def __init__(self, routes: RouteTable, lookups: Counter[str]) -> None:
        self.routes = routes
        self.lookups = lookups

    def collect(self) -> Iterator[Metric]:
        r = self.routes
        g = GaugeMetricFamily("rocketmq_namesrv_brokers", "Live registered brokers")
        g.add_metric([], len(r.live))
        yield g
        g = GaugeMetricFamily("rocketmq_namesrv_clusters", "Clusters")
        g.add_metric([], len(r.clusters))
        yield g
        g = GaugeMetricFamily("rocketmq_namesrv_topics", "Topics with a route")
        g.add_metric([], len(r.topics))
        yield g
        c = CounterMetricFamily("rocketmq_namesrv_route_lookups", "Route lookups by result",
                                labels=["result"])
        for result in ("found", "not_found"):
            c.add_metric([result], self.lookups.get(result, 0))
        yield c


class NamesrvMetrics:
    """The NameServer's registry: route-table collector plus request metrics."""

    def __init__(self, routes: RouteTable, lookups: Counter[str]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = RequestMetrics(self.registry)
        self.registry.register(NamesrvCollector(routes, lookups))
