"""Request counts and latencies by request code, fed by the remoting server's observer."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram

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
    PULL_MESSAGE's latency includes its hold time."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter("rocketmq_requests", "Requests answered, by request code and "
                                "response code (-1: no response)", ["code", "response"],
                                registry=registry)
        self.latency = Histogram("rocketmq_request_latency_seconds", "Time from a request's "
                                 "dispatch to its response, by request code", ["code"],
                                 registry=registry, buckets=_BUCKETS)

        #: (code, response) -> the labelled children: ``labels()`` per request cost ~4 µs
        self._children: dict[tuple[int, int], tuple[Any, Any]] = {}

    def observe(self, code: int, response: int, seconds: float) -> None:
        """Count one answered request."""
        pair = self._children.get((code, response))
        if pair is None:
            c = _label(code, _REQUEST_CODES)
            r = "-1" if response == -1 else _label(response, _RESPONSE_CODES)
            pair = (self.requests.labels(c, r), self.latency.labels(c))
            if len(self._children) < 4096:  # a peer picks the codes: the cache stays bounded
                self._children[(code, response)] = pair
        pair[0].inc()
        pair[1].observe(seconds)
