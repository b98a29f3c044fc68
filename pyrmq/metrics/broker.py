"""The broker's metrics: a collector reading BrokerContext's live counters at scrape time, the
TPS sampler, and :class:`BrokerMetrics`, which the controller starts when ``metricsPort`` > 0.

Names follow rocketmq-exporter where one exists (rocketmq_broker_tps, rocketmq_producer_tps,
rocketmq_consumer_tps, rocketmq_group_diff, rocketmq_brokeruntime_*); the rest are pyrmq's own
(rocketmq_store_*, rocketmq_topic_*). Every per-topic / per-group family is capped at
:data:`MAX_SERIES` label sets; what the cap dropped is counted in
``rocketmq_metrics_series_dropped``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from pyrmq.broker.stats import CounterRing
from pyrmq.metrics.http import MetricsEndpoint
from pyrmq.metrics.requests import RequestMetrics
from pyrmq.store.cleanup import disk_usage_ratio

if TYPE_CHECKING:  # the controller imports this module
    from pyrmq.broker.context import BrokerContext

log = logging.getLogger("pyrmq.metrics")

#: label sets per family at most (topics and groups are bounded by config; this is a backstop)
MAX_SERIES = 2000
TPS_WINDOW = 10.0

#: store.stats() key -> (metric name, help); counters since the store opened
_STORE_COUNTERS = {
    "flush_errors": ("rocketmq_store_flush_errors", "Failed commitlog flushes"),
    "dispatch_errors": ("rocketmq_store_dispatch_errors", "Failed consume-queue dispatches"),
    "retention_segments_deleted": ("rocketmq_store_retention_segments_deleted",
                                   "Commitlog segments deleted by retention"),
    "retention_bytes_deleted": ("rocketmq_store_retention_deleted_bytes",
                                "Commitlog bytes deleted by retention"),
    "retention_forced_deletions": ("rocketmq_store_retention_forced_deletions",
                                   "Segments deleted early because the disk was full"),
    "retention_forced_bytes_deleted": ("rocketmq_store_retention_forced_deleted_bytes",
                                       "Bytes deleted early because the disk was full"),
    "retention_unconsumed_messages_lost": ("rocketmq_store_retention_unconsumed_messages_lost",
                                           "Messages a forced deletion took before every group "
                                           "consumed them"),
}
#: store.stats() key -> (metric name, help); gauges
_STORE_GAUGES = {
    "max_phys_offset": ("rocketmq_brokeruntime_commitlog_maxoffset", "Commitlog end offset"),
    "min_phys_offset": ("rocketmq_brokeruntime_commitlog_minoffset",
                        "Commitlog first retained offset"),
    "dispatch_lag_bytes": ("rocketmq_brokeruntime_dispatch_behind_bytes",
                           "Commitlog bytes not yet dispatched to consume queues"),
    "write_error": ("rocketmq_store_write_error", "1 while the store refuses writes"),
    "commitlog_segments": ("rocketmq_store_commitlog_segments", "Commitlog segment files"),
    "consume_queues": ("rocketmq_store_consume_queues", "Consume queues"),
    "index_files": ("rocketmq_store_index_files", "Index files"),
}
_RECOVERY = ("records_scanned", "bytes_truncated", "records_truncated", "cq_entries_truncated",
             "cq_entries_rebuilt", "index_entries_rebuilt", "index_entries_truncated")


def group_offsets(ctx: BrokerContext) -> dict[str, int]:
    """``topic@group`` -> sum of the group's committed offsets (consumer TPS source)."""
    return {key: sum(queues.values()) for key, queues in ctx.offsets.table.items()}


def _counters(ctx: BrokerContext) -> dict[str, int]:
    s = ctx.stats
    out = {"put": s.put_count, "get": s.get_count, "put_bytes": s.put_bytes}
    out.update({"p:" + t: n for t, n in s.topic_puts.items()})
    out.update({"b:" + t: n for t, n in s.topic_put_bytes.items()})
    out.update({"c:" + k: n for k, n in group_offsets(ctx).items()})
    return out


class BrokerCollector(Collector):
    """Reads the broker's state at scrape time. ``connections`` counts open remoting
    connections; ``rates`` gives the windowed TPS (None: no TPS gauges)."""

    def __init__(self, ctx: BrokerContext, *, connections: Callable[[], int] = lambda: 0,
                 rates: CounterRing | None = None) -> None:
        self.ctx = ctx
        self.connections = connections
        self.rates = rates

    def collect(self) -> Iterator[Metric]:
        ctx = self.ctx
        if ctx.store is None:  # not started yet
            return
        cfg = ctx.cfg
        base = [cfg.brokerClusterName, cfg.brokerName]
        bl = ["cluster", "broker"]
        dropped = 0

        def gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
            g = GaugeMetricFamily(name, doc, labels=bl)
            g.add_metric(base, value)
            return g

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            c = CounterMetricFamily(name, doc, labels=bl)
            c.add_metric(base, value)
            return c

        def capped(rows: Iterable[Any]) -> list[Any]:
            nonlocal dropped
            out = []
            for i, row in enumerate(rows):
                if i >= MAX_SERIES:
                    dropped += 1
                else:
                    out.append(row)
            return out

        s = ctx.stats
        yield counter("rocketmq_broker_put_messages", "Messages stored since boot", s.put_count)
        yield counter("rocketmq_broker_put_bytes", "Message body bytes stored since boot",
                      s.put_bytes)
        yield counter("rocketmq_broker_get_messages", "Messages pulled since boot", s.get_count)
        yield gauge("rocketmq_brokeruntime_msg_put_total_today_now",
                    "msgPutTotalTodayNow of brokerStatus", s.put_count)
        yield gauge("rocketmq_brokeruntime_msg_gettotal_today_now",
                    "msgGetTotalTodayNow of brokerStatus", s.get_count)
        yield from self._topic_counters(base, bl, capped)

        st = ctx.store.stats()
        for key, (name, doc) in _STORE_COUNTERS.items():
            yield counter(name, doc, st.get(key, 0))
        for key, (name, doc) in _STORE_GAUGES.items():
            yield gauge(name, doc, st.get(key, 0))
        yield counter("rocketmq_store_flushes", "Commitlog flushes (msync) done",
                      st.get("flush_count", 0))
        yield counter("rocketmq_store_flush_seconds", "Time spent flushing the commitlog",
                      st.get("flush_ns_total", 0) / 1e9)
        yield gauge("rocketmq_store_flush_max_seconds", "The slowest commitlog flush since "
                    "the store opened", st.get("flush_ns_max", 0) / 1e9)
        yield gauge("rocketmq_store_flush_behind_bytes", "Commitlog bytes written, not flushed",
                    max(0, st.get("max_phys_offset", 0) - st.get("flushed_phys_offset", 0)))
        try:
            ratio = disk_usage_ratio(ctx.store.root)
        except OSError:
            ratio = float("nan")
        yield gauge("rocketmq_brokeruntime_commitlog_disk_ratio",
                    "Used fraction of the store's disk (as df)", ratio)
        yield from self._recovery(gauge)

        yield gauge("rocketmq_broker_connections", "Open remoting connections",
                    self.connections())
        yield gauge("rocketmq_broker_pull_holds", "Long-polled pulls held", len(ctx.holds))
        yield from self._groups(base, bl, capped)
        yield from self._ha(gauge)
        if self.rates is not None:
            yield from self._tps(base, bl, gauge, capped)
        yield gauge("rocketmq_metrics_series_dropped",
                    f"Label sets left out by the {MAX_SERIES} per family cap", dropped)

    def _topic_counters(self, base: list[str], bl: list[str], capped) -> Iterator[Metric]:
        s, labels = self.ctx.stats, [*bl, "topic"]
        for name, doc, table in (
                ("rocketmq_topic_put_messages", "Messages stored per topic", s.topic_puts),
                ("rocketmq_topic_put_bytes", "Body bytes stored per topic", s.topic_put_bytes),
                ("rocketmq_topic_get_messages", "Messages pulled per topic", s.topic_gets)):
            c = CounterMetricFamily(name, doc, labels=labels)
            for topic, n in capped(sorted(table.items())):
                c.add_metric([*base, topic], n)
            yield c

    def _recovery(self, gauge) -> Iterator[Metric]:
        rep = self.ctx.store.recovery
        yield gauge("rocketmq_store_recovery_clean_shutdown",
                    "1 when the last open found a clean shutdown", int(rep.clean_shutdown))
        for field in _RECOVERY:
            yield gauge(f"rocketmq_store_recovery_{field}",
                        f"Open-time recovery: {field.replace('_', ' ')}", getattr(rep, field))
        yield gauge("rocketmq_store_recovery_seconds", "Open-time recovery duration",
                    rep.elapsed_ms / 1000)

    def _groups(self, base: list[str], bl: list[str], capped) -> Iterator[Metric]:
        ctx = self.ctx
        diff = GaugeMetricFamily("rocketmq_group_diff", "Messages a group has not consumed yet "
                                 "(broker max offset - committed offset) per queue",
                                 labels=["cluster", "broker", "group", "topic", "queueid"])
        gl = [*bl, "group", "topic"]
        offset = GaugeMetricFamily("rocketmq_consumer_offset", "Sum of a group's committed "
                                   "offsets on a topic", labels=gl)
        accum = GaugeMetricFamily("rocketmq_message_accumulation", "Messages a group has not "
                                  "consumed yet on a topic (sum of rocketmq_group_diff)",
                                  labels=gl)
        rows = ((key, q, off) for key, queues in sorted(ctx.offsets.table.items())
                for q, off in sorted(queues.items()))
        per_key: dict[str, list[int]] = {}
        for key, q, off in capped(rows):
            topic, _, group = key.partition("@")
            lag = max(0, ctx.store.max_offset(topic, q) - off)
            diff.add_metric([*base, group, topic, str(q)], lag)
            sums = per_key.setdefault(key, [0, 0])
            sums[0] += off
            sums[1] += lag
        for key, (off, lag) in per_key.items():
            topic, _, group = key.partition("@")
            offset.add_metric([*base, group, topic], off)
            accum.add_metric([*base, group, topic], lag)
        yield diff
        yield offset
        yield accum
        count = GaugeMetricFamily("rocketmq_group_count", "Online consumers of a group",
                                  labels=[*bl, "group"])
        for group, info in capped(sorted(ctx.consumers.groups.items())):
            count.add_metric([*base, group], len(info.channels))
        yield count
        offs = GaugeMetricFamily("rocketmq_producer_offset", "Sum of a topic's queue max offsets",
                                 labels=[*bl, "topic"])
        per_topic: dict[str, int] = {}
        for topic, _q, _lo, hi in ctx.store.queues():
            per_topic[topic] = per_topic.get(topic, 0) + hi
        for topic, n in capped(sorted(per_topic.items())):
            offs.add_metric([*base, topic], n)
        yield offs

    def _ha(self, gauge) -> Iterator[Metric]:
        ha = self.ctx.ha_master
        acked = getattr(ha, "acked", None)
        if not acked:  # no HA master, or no slave attached
            return
        yield gauge("rocketmq_ha_slaves", "Slaves attached to this master", len(acked))
        yield gauge("rocketmq_ha_replication_lag_bytes",
                    "Commitlog end minus the furthest slave's acknowledged offset",
                    max(0, self.ctx.store.max_phys_offset() - max(acked.values())))

    def _tps(self, base: list[str], bl: list[str], gauge, capped) -> Iterator[Metric]:
        r = (self.rates.since(TPS_WINDOW, time.monotonic(), _counters(self.ctx))
             if self.rates is not None else {})
        # brokerStatus' putTps samples once a second (Java's StoreStatsService); these gauges
        # end at a reading taken now, so a scrape right after a burst already shows it
        yield gauge("rocketmq_broker_tps", f"Messages stored per second ({TPS_WINDOW:.0f} s)",
                    r.get("put", 0.0))
        yield gauge("rocketmq_broker_qps", f"Messages pulled per second ({TPS_WINDOW:.0f} s)",
                    r.get("get", 0.0))
        yield gauge("rocketmq_broker_put_bytes_per_second", "Body bytes stored per second",
                    r.get("put_bytes", 0.0))
        tps = GaugeMetricFamily("rocketmq_producer_tps", "Messages stored per second per topic",
                                labels=[*bl, "topic"])
        size = GaugeMetricFamily("rocketmq_producer_message_size",
                                 "Body bytes stored per second per topic", labels=[*bl, "topic"])
        ctps = GaugeMetricFamily("rocketmq_consumer_tps", "Committed-offset progress per second "
                                 "per group and topic", labels=[*bl, "group", "topic"])
        for key, v in capped(sorted(r.items())):
            kind, _, name = key.partition(":")
            if kind == "p":
                tps.add_metric([*base, name], v)
            elif kind == "b":
                size.add_metric([*base, name], v)
            elif kind == "c":
                topic, _, group = name.partition("@")
                ctps.add_metric([*base, group, topic], v)
        yield tps
        yield size
        yield ctps


class BrokerMetrics:
    """The broker's registry, request observer, TPS sampler and HTTP endpoint."""

    def __init__(self, ctx: BrokerContext, connections: Callable[[], int]) -> None:
        self.ctx = ctx
        self.registry = CollectorRegistry(auto_describe=False)
        self.requests = RequestMetrics(self.registry)
        self.rates = CounterRing(int(TPS_WINDOW) + 2)  # one sample a second
        self.registry.register(BrokerCollector(ctx, connections=connections, rates=self.rates))
        self.endpoint: MetricsEndpoint | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        return self.endpoint.port if self.endpoint else 0

    async def start(self, host: str, port: int) -> None:
        self.endpoint = MetricsEndpoint(self.registry, host, port)
        await self.endpoint.start()
        self._task = asyncio.get_running_loop().create_task(self._sample_loop())

    async def _sample_loop(self) -> None:
        while True:
            try:
                self.rates.sample(time.monotonic(), _counters(self.ctx))
            except Exception as e:  # never let the sampler die silently
                log.warning("metrics sample failed: %s: %.200s", type(e).__name__, e)
            await asyncio.sleep(1.0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.endpoint is not None:
            await self.endpoint.close()
