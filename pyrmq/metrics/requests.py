"""Request counts and latencies by request code, fed by the remoting server's observer."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.utils import floatToGoString

from pyrmq.protocol.codes import RequestCode, ResponseCode

_REQUEST_CODES = frozenset(int(c) for c in RequestCode)
_RESPONSE_CODES = frozenset(int(c) for c in ResponseCode)
_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
            10.0, 30.0)


def _label(code: int, known: frozenset[int]) -> str:
    # a peer chooses request codes: unknown ones share one label (bounded cardinality)
    return str(code) if code in known else "other"


class RequestMetrics:
    """``rocketmq_requests_total{code,response}`` and ``rocketmq_request_latency_seconds{code}``
    in ``registry``; :meth:`observe` is the remoting server's ``on_response``. A long-polled
    PULL_MESSAGE's latency includes its hold time.

    :meth:`observe` runs for every request a server answers, so it only adds to plain ints
    (about 1 µs; prometheus-client's labelled Counter + Histogram cost ~7 µs a request);
    :meth:`collect` turns them into the two families at scrape time. Both run on the server's
    loop (the metrics endpoint is served there), so nothing needs a lock."""

    def __init__(self, registry: CollectorRegistry) -> None:
        #: (code label, response label) -> count
        self._counts: dict[tuple[str, str], int] = {}
        #: code label -> [count per bucket (not cumulative) ..., +Inf bucket, sum of seconds]
        self._latency: dict[str, list[float]] = {}
        #: (code, response) -> (count key, latency row); bounded: a peer picks the codes
        self._keys: dict[tuple[int, int], tuple[tuple[str, str], list[float]]] = {}
        registry.register(self)

    def observe(self, code: int, response: int, seconds: float) -> None:
        """Count one answered request."""
        key = self._keys.get((code, response))
        if key is None:
            key = self._key(code, response)
        counts = self._counts
        counts[key[0]] += 1
        row = key[1]
        row[bisect_left(_BUCKETS, seconds)] += 1
        row[-1] += seconds

    def _key(self, code: int, response: int) -> tuple[tuple[str, str], list[float]]:
        c = _label(code, _REQUEST_CODES)
        r = "-1" if response == -1 else _label(response, _RESPONSE_CODES)
        self._counts.setdefault((c, r), 0)
        row = self._latency.setdefault(c, [0] * (len(_BUCKETS) + 2))
        key = ((c, r), row)
        if len(self._keys) < 4096:
            self._keys[(code, response)] = key
        return key

    def collect(self) -> Iterator[Metric]:
        """The two families, as prometheus-client's collectors would give them."""
        requests = CounterMetricFamily("rocketmq_requests", "Requests answered, by request "
                                       "code and response code (-1: no response)",
                                       labels=["code", "response"])
        for (c, r), n in sorted(self._counts.items()):
            requests.add_metric([c, r], n)
        yield requests
        latency = HistogramMetricFamily("rocketmq_request_latency_seconds", "Time from a "
                                        "request's dispatch to its response, by request code",
                                        labels=["code"])
        for c, row in sorted(self._latency.items()):
            cumulative, buckets = 0.0, []
            for le, n in zip((*_BUCKETS, float("inf")), row[:-1], strict=True):
                cumulative += n
                buckets.append((floatToGoString(le), cumulative))
            latency.add_metric([c], buckets, row[-1])
        yield latency
