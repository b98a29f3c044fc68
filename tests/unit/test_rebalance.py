"""Allocation strategies give Java's results (AllocateMessageQueueAveragely[ByCircle])."""

import pytest

from pyrmq.client import MessageQueue
from pyrmq.client.rebalance import allocate_averagely, allocate_averagely_by_circle

QS = [MessageQueue("T", "b", i) for i in range(8)]


@pytest.mark.parametrize("n_clients, expected", [
    (1, [[0, 1, 2, 3, 4, 5, 6, 7]]),
    (3, [[0, 1, 2], [3, 4, 5], [6, 7]]),          # 8 % 3 = 2: the first two get 3
    (5, [[0, 1], [2, 3], [4, 5], [6], [7]]),
    (10, [[0], [1], [2], [3], [4], [5], [6], [7], [], []]),
])
def test_averagely(n_clients, expected):
    clients = [f"c{i}" for i in range(n_clients)]
    got = [[q.queue_id for q in allocate_averagely(c, list(reversed(QS)), clients)]
           for c in clients]
    assert got == expected
    assert sorted(x for g in got for x in g) == list(range(8))  # every queue exactly once


def test_by_circle_and_unknown_client():
    clients = ["a", "b", "c"]
    assert [q.queue_id for q in allocate_averagely_by_circle("b", QS, clients)] == [1, 4, 7]
    assert allocate_averagely("zz", QS, clients) == []
    assert allocate_averagely_by_circle("zz", QS, clients) == []


def test_consistent_hash_covers_every_queue_once_and_moves_little():
    from pyrmq.client.rebalance import allocate_consistent_hash, mq_key

    qs = [MessageQueue("T", b, i) for b in ("broker-a", "broker-b") for i in range(16)]
    assert mq_key(qs[1]) == "MessageQueue [topic=T, brokerName=broker-a, queueId=1]"
    three = {c: set(allocate_consistent_hash(c, qs, ["c1", "c2", "c3"])) for c in
             ("c1", "c2", "c3")}
    assert sorted(q for s in three.values() for q in s) == sorted(qs)
    four = {c: set(allocate_consistent_hash(c, qs, ["c1", "c2", "c3", "c4"])) for c in
            ("c1", "c2", "c3", "c4")}
    moved = sum(len(three[c] - four[c]) for c in three)
    assert moved == len(four["c4"])  # only what the newcomer takes changes hands
    assert allocate_consistent_hash("zz", qs, ["c1"]) == []
