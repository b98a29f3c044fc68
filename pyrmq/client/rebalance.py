"""Queue allocation strategies as pure functions, with Java's exact results (inputs are sorted
the way Java sorts them: queues by (topic, brokerName, queueId), client ids as strings)."""

from __future__ import annotations

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
