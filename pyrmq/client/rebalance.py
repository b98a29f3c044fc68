"""Queue allocation strategies as pure functions, with Java's exact results (inputs are sorted
the way Java sorts them: queues by (topic, brokerName, queueId), client ids as strings)."""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence
from typing import TypeVar

Q = TypeVar("Q")


def allocate_averagely(current: str, queues: Sequence[Q], clients: Sequence[str]) -> list[Q]:
    """AllocateMessageQueueAveragely: contiguous blocks, the first ``n % m`` clients get one
    more."""
    cids = sorted(clients)
    if current not in cids or not queues:
        return []
    qs = sorted(queues)  # type: ignore[type-var]
    index, n, m = cids.index(current), len(qs), len(cids)
    mod = n % m
    if n <= m:
        avg = 1
    elif mod > 0 and index < mod:
        avg = n // m + 1
    else:
        avg = n // m
    start = index * avg if mod > 0 and index < mod else index * avg + mod
    return qs[start:start + min(avg, n - start)] if start < n else []


def allocate_averagely_by_circle(current: str, queues: Sequence[Q], clients: Sequence[str]
                                 ) -> list[Q]:
    """AllocateMessageQueueAveragelyByCircle: queue i goes to client i % m."""
    cids = sorted(clients)
    if current not in cids:
        return []
    index = cids.index(current)
    return [q for i, q in enumerate(sorted(queues)) if i % len(cids) == index]  # type: ignore


def _md5_hash(key: str) -> int:
    """Java MD5Hash: the digest's first four bytes as an unsigned big-endian number."""
    return int.from_bytes(hashlib.md5(key.encode()).digest()[:4], "big")


def mq_key(q: object) -> str:
    """Java MessageQueue.toString()."""
    return (f"MessageQueue [topic={q.topic}, brokerName={q.broker_name}, "  # type: ignore[attr-defined]
            f"queueId={q.queue_id}]")  # type: ignore[attr-defined]


def allocate_consistent_hash(current: str, queues: Sequence[Q], clients: Sequence[str],
                             virtual_nodes: int = 10) -> list[Q]:
    """AllocateMessageQueueConsistentHash: each client id placed on an MD5 ring with
    ``virtual_nodes`` replicas (``"<cid>-<i>"``); a queue (keyed by its Java toString) goes to
    the first replica at or after its hash, wrapping around."""
    if current not in clients:
        return []
    ring = sorted((_md5_hash(f"{cid}-{i}"), cid) for cid in clients
                  for i in range(virtual_nodes))
    points = [h for h, _ in ring]
    out = []
    for q in queues:
        i = bisect.bisect_left(points, _md5_hash(mq_key(q)))
        if ring[i % len(ring)][1] == current:
            out.append(q)
    return out
